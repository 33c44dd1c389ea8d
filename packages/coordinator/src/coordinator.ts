/**
 * Wires the coordinator: health server always; leader election; and, while leading, the
 * informers, the work queue with the reconcilers, the AgentHub server and the webhook.
 * A standby serves only /healthz, /readyz and /metrics. Every replica is Ready (a standby
 * too, so the Deployment is Available); the Service routes to the leader by the label
 * ferry.dev/leader=true that the leader sets on its own pod (--pod-name) and removes when
 * it steps down.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isTerminalPhase } from '@ferry/api';
import type { Clock } from './clock.js';
import type { CoordinatorConfig } from './config.js';
import { LABELS, objectKey, type ControllerContext } from './context.js';
import { reconcileBackup } from './controllers/backup.js';
import { commit } from './controllers/commit.js';
import { reconcileRestoredPod } from './controllers/pod-restore.js';
import { reconcilePodVolumeBackup } from './controllers/pod-volume-backup.js';
import { reconcilePodVolumeRestore } from './controllers/pod-volume-restore.js';
import { reconcileRestore } from './controllers/restore.js';
import { tasksOf } from './controllers/tasks.js';
import { reconcileSchedule, type ScheduleObject } from './schedules/controller.js';
import { reconcileLocation, type StoredLocation } from './locations/controller.js';
import { reconcileMaintenance, repositoriesToNudge } from './maintenance/controller.js';
import { applyMaintenanceResult } from './maintenance/runs.js';
import { isMaintenanceJobId } from './maintenance/schedule.js';
import type { RepositoryObject } from './maintenance/schedule.js';
import { CoordinatorError, messageOf } from './errors.js';
import { HealthServer } from './health-server.js';
import { AgentHub } from './hub.js';
import { ChangeFeed, type ApiContext } from './api/rpc.js';
import { ApiServer } from './api/server.js';
import type { ClusterEvent, ClusterState, ClusterWatch, FerryKind, FerryObject } from './cluster/cluster-state.js';
import { KubeClusterState } from './cluster/kube-state.js';
import { LEADER_LABEL } from './cluster/labels.js';
import { LeaderElector } from './leader.js';
import { VolumeSnapshots } from './helpers/volume-snapshots.js';
import { TargetClaims } from './claims/target-claims.js';
import { HelperPods } from './helpers/helper-pods.js';
import type { Logger } from '@ferry/log';
import { lastBackupSuccesses } from './backup-success.js';
import { CoordinatorMetrics } from './metrics.js';
import type { BackupObject, PvbObject, PvrObject, RestoreObject } from './objects.js';
import { defaultPurgeMovers, type PurgeMoverFactory } from './purge.js';
import { OperationLogBook } from './operation-logs/book.js';
import { Repositories } from './repositories.js';
import { JobTraffic, type ObjectRef } from './results.js';
import { WorkQueue } from './queue.js';
import type { Decision } from './state-machine.js';
import { admitPod, pendingRestoresFrom, WebhookServer } from './webhook.js';

export interface CoordinatorOptions {
  readonly config: CoordinatorConfig;
  /** Kubernetes (KubeClusterState) or standalone (LocalClusterState); leader election needs Kubernetes. */
  readonly cluster: ClusterState;
  readonly clock: Clock;
  readonly log: Logger;
  /** Called when leadership is lost (main exits so a fresh process campaigns again). */
  readonly onLostLeadership?: () => void;
  /** How repositories are opened to purge deleted Backups' snapshots; default: native only. */
  readonly purgeMovers?: PurgeMoverFactory;
}

export interface CoordinatorPorts {
  health: number;
  hub: number;
  webhook: number;
  api: number;
}

export class Coordinator {
  readonly metrics = new CoordinatorMetrics();
  readonly ports: CoordinatorPorts = { health: 0, hub: 0, webhook: 0, api: 0 };
  private readonly identity: string;
  private readonly health: HealthServer;
  private elector?: LeaderElector;
  private running?: Running;
  private leading = false;

  constructor(private readonly o: CoordinatorOptions) {
    this.identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.health = new HealthServer({ registry: this.metrics.registry, ready: () => this.readiness(), beforeScrape: () => this.updateGauges() });
  }

  async start(): Promise<void> {
    const c = this.o.config;
    this.ports.health = await this.health.listen(c.listen.host, c.listen.port);
    if (!c.leaderElection.enabled) return this.startLeading();
    if (!(this.o.cluster instanceof KubeClusterState)) throw new CoordinatorError('InvalidConfig', 'leader election needs the Kubernetes API; run standalone mode with --leader-elect=false');
    // A container restarted in a pod that led keeps the pod's label: drop it before campaigning.
    await this.markLeader(false);
    this.elector = new LeaderElector({
      kube: this.o.cluster,
      clock: this.o.clock,
      log: this.o.log,
      namespace: c.namespace,
      name: c.leaderElection.leaseName,
      identity: this.identity,
      leaseDurationMs: c.leaderElection.leaseDurationMs,
      renewDeadlineMs: c.leaderElection.renewDeadlineMs,
      retryPeriodMs: c.leaderElection.retryPeriodMs,
      onStartedLeading: () => void this.startLeading().catch((err: unknown) => {
        this.o.log.error('starting as leader failed', { error: messageOf(err) });
        this.o.onLostLeadership?.();
      }),
      onStoppedLeading: () => void this.stopLeading().then(() => this.o.onLostLeadership?.()),
    });
    this.elector.start();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private readiness(): { ok: boolean; detail: string } {
    if (!this.leading) return { ok: true, detail: 'standby: another replica holds the leader Lease' };
    return this.running ? { ok: true, detail: 'leader' } : { ok: false, detail: 'starting' };
  }

  private updateGauges(): void {
    const r = this.running;
    this.metrics.leader.set(this.leading ? 1 : 0);
    if (!r) return;
    this.metrics.agentsConnected.set(r.hub.connectedNodes.length);
    this.metrics.queueDepth.set(r.queue.depth);
    this.metrics.operations.reset();
    for (const kind of ['Backup', 'PodVolumeBackup', 'Restore', 'PodVolumeRestore'] as const) {
      for (const o of r.watch.list<FerryObject<unknown, { phase?: string }>>(kind)) this.metrics.operations.inc({ kind, phase: o.status?.phase ?? 'New' });
    }
    this.metrics.backupLastSuccess.reset();
    for (const s of lastBackupSuccesses(r.watch.list<BackupObject>('Backup'), LABELS.schedule)) this.metrics.backupLastSuccess.set({ namespace: s.namespace, schedule: s.schedule }, s.seconds);
  }

  private async startLeading(): Promise<void> {
    this.leading = true;
    this.metrics.leader.set(1);
    const running = await Running.start(this.o, this.metrics, this.identity);
    if (!this.leading) return running.stop();
    this.running = running;
    Object.assign(this.ports, running.ports);
    await this.markLeader(true);
  }

  /** Labels this replica's pod as the leader (or not), so the Service routes to it; a failure is logged, not fatal. */
  private async markLeader(leading: boolean): Promise<void> {
    const pod = this.o.config.podName;
    if (!pod || !(this.o.cluster instanceof KubeClusterState)) return;
    try {
      await this.o.cluster.labelPod(this.o.config.namespace, pod, { [LEADER_LABEL]: leading ? 'true' : null });
      this.o.log.info(leading ? 'labelled own pod as the leader' : 'removed the leader label from own pod', { pod, label: LEADER_LABEL });
    } catch (err) {
      this.o.log.error('labelling own pod failed: the Service routes to the leader by this label (check --pod-name and the Role\'s pods patch)', { pod, label: LEADER_LABEL, leading, error: messageOf(err) });
    }
  }

  private async stopLeading(): Promise<void> {
    if (this.leading) await this.markLeader(false);
    this.leading = false;
    this.metrics.leader.set(0);
    const r = this.running;
    this.running = undefined;
    await r?.stop();
  }

  async stop(): Promise<void> {
    if (this.elector) await this.elector.stop();
    else await this.stopLeading();
    await this.stopLeading();
    await this.health.close();
  }
}

/**
 * Helper pods (and snapshot mode's VolumeSnapshots and claims) a crashed coordinator left behind are deleted once the caches are synced:
 * kept only while the Ferry object they serve exists and is unfinished. A failed sweep is
 * logged, not fatal (the next start tries again; the garbage collector covers most).
 */
async function sweepHelperPods(cluster: ClusterState, watch: ClusterWatch, log: Logger): Promise<void> {
  if (!(cluster instanceof KubeClusterState)) return;
  const wanted = new Set<string>();
  for (const kind of ['Backup', 'PodVolumeBackup', 'Restore', 'PodVolumeRestore'] as const) {
    for (const o of watch.list<FerryObject<unknown, { phase?: string }>>(kind)) if (!isTerminalPhase(o.status?.phase)) wanted.add(o.metadata.uid ?? '');
  }
  try {
    const swept = await new HelperPods({ core: cluster.core }).sweep(async (uid) => wanted.has(uid));
    if (swept.deleted.length > 0) log.info('helper pods swept', { deleted: swept.deleted.join(','), kept: swept.kept.length });
  } catch (err) {
    log.warn('sweeping helper pods failed; the next start tries again', { error: messageOf(err) });
  }
  try {
    const swept = await new VolumeSnapshots({ core: cluster.core, custom: cluster.custom }).sweep(async (uid) => wanted.has(uid));
    if (swept.deleted.length > 0) log.info('snapshot-mode snapshots and claims swept', { deleted: swept.deleted.join(','), kept: swept.kept.length });
  } catch (err) {
    log.warn('sweeping snapshot-mode snapshots and claims failed; the next start tries again', { error: messageOf(err) });
  }
}

/** Everything a leader runs. */
class Running {
  readonly ports = { hub: 0, webhook: 0, api: 0 };
  /** Cluster changes for the public API's Watch streams. */
  readonly changes = new ChangeFeed();
  private api?: ApiServer;
  private readonly uids = new Map<string, ObjectRef>();
  private synced!: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.synced = resolve));

  private constructor(
    readonly ctx: ControllerContext,
    readonly hub: AgentHub,
    readonly queue: WorkQueue,
    readonly watch: ClusterWatch,
    private readonly webhook: WebhookServer | undefined,
  ) {}

  static async start(o: CoordinatorOptions, metrics: CoordinatorMetrics, identity: string): Promise<Running> {
    const cfg = o.config;
    const cluster = o.cluster;
    let self!: Running;
    const queue = new WorkQueue({
      clock: o.clock,
      workers: cfg.workers,
      process: (key) => self.process(key),
      onError: (key, err) => {
        metrics.reconcileErrors.inc({ kind: key.split('/')[0] ?? '' });
        o.log.warn('reconcile failed; retrying', { key, error: messageOf(err) });
      },
      onDepth: (d) => metrics.queueDepth.set(d),
    });
    const enqueue = (key: string, afterMs?: number) => (afterMs ? queue.addAfter(key, afterMs) : queue.add(key));
    let traffic!: JobTraffic;
    const hub = new AgentHub({
      clock: o.clock,
      log: o.log.child({ component: 'agenthub' }),
      coordinatorId: identity,
      ...(cfg.insecure ? {} : { tls: cfg.hubTls }),
      identity: cfg.agentIdentity,
      handlers: {
        onResult: (result, session) => (isMaintenanceJobId(result.jobId) ? applyMaintenanceResult(ctx, result) : traffic.applyResult(result, session.node)),
        onProgress: (progress, session) => (isMaintenanceJobId(progress.jobId) ? undefined : traffic.onProgress(progress, session.node)),
        onConnect: (s) => self.nudgeNode(s.node),
        onDisconnect: (node) => self.nudgeNode(node),
      },
    });
    const ctx: ControllerContext = {
      cluster,
      hub,
      clock: o.clock,
      log: o.log,
      metrics,
      repositories: new Repositories({ cluster, namespace: cfg.namespace }),
      purgeMovers: o.purgeMovers ?? defaultPurgeMovers,
      settings: cfg.controllers,
      enqueue,
      startedAt: o.clock.now(),
      operationLogs: new OperationLogBook(o.clock),
      // Helper pods need the Kubernetes API (the scheduler and kubelet place them); standalone has none.
      ...(cluster instanceof KubeClusterState ? { helperPods: new HelperPods({ core: cluster.core }), volumeSnapshots: new VolumeSnapshots({ core: cluster.core, custom: cluster.custom }), targetClaims: new TargetClaims({ core: cluster.core }) } : {}),
    };
    const watch = cluster.watch((e) => self.onEvent(e));
    const deps = { ctx, pendingRestores: pendingRestoresFrom(() => watch.list<RestoreObject>('Restore'), cfg.namespace) };
    const inProcess = cluster.registerPodAdmission((pod, namespace) => admitPod(deps, pod, namespace));
    const webhook = cfg.webhook && !inProcess ? new WebhookServer({ deps, certFile: cfg.webhook.certFile, keyFile: cfg.webhook.keyFile }) : undefined;
    self = new Running(ctx, hub, queue, watch, webhook);
    traffic = new JobTraffic({ ctx, lookup: async (uid) => (await self.ready, self.uids.get(uid)) });
    await watch.start();
    self.synced();
    await sweepHelperPods(cluster, watch, o.log);
    self.ports.hub = await hub.listen(cfg.hubAddress);
    if (webhook && cfg.webhook) self.ports.webhook = await webhook.listen(cfg.webhook.host, cfg.webhook.port);
    if (cfg.api) await self.startApi(cfg.api, o);
    o.log.info('coordinator leading', { hubPort: self.ports.hub, webhookPort: self.ports.webhook, apiPort: self.ports.api });
    return self;
  }

  private async startApi(api: NonNullable<CoordinatorConfig['api']>, o: CoordinatorOptions): Promise<void> {
    if (!api.tls) o.log.warn('public API without TLS (--insecure): bearer tokens cross the network in plaintext');
    const c = this.ctx;
    const context: ApiContext = { cluster: c.cluster, clock: c.clock, log: o.log.child({ component: 'api' }), namespace: o.config.namespace, repositories: c.repositories, movers: c.purgeMovers, changes: this.changes, resyncMs: 30_000, streams: { open: 0 }, metrics: c.metrics };
    this.api = new ApiServer({ context, ...(api.tls ? { tls: api.tls } : {}) });
    this.ports.api = await this.api.listen(api.host, api.port);
  }

  private onEvent(e: ClusterEvent): void {
    this.changes.publish(e);
    const m = e.object.metadata ?? {};
    const ns = m.namespace ?? '';
    const name = m.name ?? '';
    if (e.kind === 'PodVolumeBackup' || e.kind === 'PodVolumeRestore') {
      if (e.type === 'delete') this.uids.delete(m.uid ?? '');
      else this.uids.set(m.uid ?? '', { kind: e.kind, namespace: ns, name });
    }
    if (e.kind === 'Pod') return this.ctx.enqueue(objectKey('Pod', ns, name));
    if (e.type === 'delete' && e.kind !== 'BackupRepository') return;
    this.ctx.enqueue(objectKey(e.kind, ns, name));
    const spec = e.object.spec as { backup?: string; restore?: string } | undefined;
    if (e.kind === 'PodVolumeBackup' && spec?.backup) this.ctx.enqueue(objectKey('Backup', ns, spec.backup));
    if (e.kind === 'PodVolumeRestore' && spec?.restore) this.ctx.enqueue(objectKey('Restore', ns, spec.restore));
    // A schedule's Backup changed (finished, say): the schedule updates active/lastSuccessful and applies retention.
    const schedule = e.kind === 'Backup' ? m.labels?.[LABELS.schedule] : undefined;
    if (schedule) this.ctx.enqueue(objectKey('BackupSchedule', ns, schedule));
  }

  /** An agent came or went: look again at every unfinished volume on its node. */
  nudgeNode(node: string): void {
    for (const kind of ['PodVolumeBackup', 'PodVolumeRestore'] as const) {
      for (const o of this.watch.list<PvbObject | PvrObject>(kind)) {
        if ((o.spec.node === node || (o as PvbObject).status?.volumeSnapshot?.helperPod?.node === node) && !isTerminalPhase(o.status?.phase)) this.ctx.enqueue(objectKey(kind, o.metadata.namespace ?? '', o.metadata.name ?? ''));
      }
    }
    for (const r of repositoriesToNudge(this.watch.list<RepositoryObject>('BackupRepository'), node)) this.ctx.enqueue(objectKey('BackupRepository', r.metadata.namespace ?? '', r.metadata.name ?? ''));
  }

  async process(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [kind = '', namespace = '', name = ''] = key.split('/');
    const c = this.ctx;
    switch (kind) {
      case 'Pod':
        return reconcileRestoredPod(c, namespace, name);
      case 'Backup':
        return this.run<BackupObject>('Backup', namespace, name, (o) => reconcileBackup(c, o));
      case 'PodVolumeBackup':
        return this.run<PvbObject>('PodVolumeBackup', namespace, name, (o) => reconcilePodVolumeBackup(c, o));
      case 'Restore':
        return this.run<RestoreObject>('Restore', namespace, name, (o) => reconcileRestore(c, o));
      case 'BackupRepository':
        return reconcileMaintenance(c, namespace, name);
      case 'BackupLocation':
        return this.run<StoredLocation>('BackupLocation', '', name, (o) => reconcileLocation(c, o));
      case 'BackupSchedule':
        return this.run<ScheduleObject>('BackupSchedule', namespace, name, (o) => reconcileSchedule(c, o));
      case 'PodVolumeRestore':
        return this.run<PvrObject>('PodVolumeRestore', namespace, name, (o) => reconcilePodVolumeRestore(c, o));
      default:
        c.log.warn('unknown queue key', { key });
    }
  }

  private async run<O extends FerryObject<unknown, { phase?: string }>>(kind: FerryKind, namespace: string, name: string, reconcile: (o: O) => Promise<Decision<NonNullable<O['status']>>>): Promise<{ requeueAfterMs?: number }> {
    const obj = await this.ctx.cluster.get<O>(kind, namespace, name);
    if (!obj) return {};
    const decision = await reconcile(obj);
    await commit(this.ctx, kind, obj, decision);
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

  async stop(): Promise<void> {
    this.queue.stop();
    tasksOf(this.ctx).abortAll();
    await this.watch.stop();
    await this.api?.stop();
    await this.webhook?.close();
    await this.hub.stop();
  }
}
