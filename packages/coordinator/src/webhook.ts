/**
 * The mutating admission webhook for pod CREATE: a pod that matches a pending Restore
 * (by claim name for PVC volumes, by controller owner and volume name otherwise) gets the
 * restore-wait init container prepended, a mount of every volume to restore, and the
 * labels/annotations that tie it to the Restore. A block volume (one the pod's containers
 * list under volumeDevices) cannot be mounted and holds no marker files: restore-wait waits
 * on a directory of an emptyDir added for it instead, where the agent writes its markers. Everything else passes unchanged, and a
 * pod that already carries the container is left alone (idempotent on reinvocation).
 * The same HTTPS server answers Restore reviews (restore-admission.ts).
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ANNOTATIONS, isTerminalPhase, RESTORE_DEFAULTS, RESTORE_MARKER_VOLUME, parseDuration } from '@ferry/api';
import type { V1Container, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ANNOTATIONS_OUT, LABELS, RESTORE_WAIT_CONTAINER, type ControllerContext } from './context.js';
import { matchPod, restoreItems, type RestoreItem } from './controllers/restore-items.js';
import { restoreTargets, verifiedCreator } from './controllers/restore-namespaces.js';
import { selectorMatches } from './controllers/selectors.js';
import { claimItemKeys } from './claims/claim-plan.js';
import { HELPER_POD_LABEL } from './helpers/helper-pod.js';
import { messageOf } from './errors.js';
import type { PvrObject, RestoreObject } from './objects.js';
import { reviewRestore, type RestoreAdmissionRequest } from './restore-admission.js';

export const RESTORE_MOUNT_ROOT = '/ferry-restore';

export interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: { uid: string; kind?: { kind?: string }; operation?: string; namespace?: string; object?: V1Pod };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

/** Restores that may adopt pods in a namespace, oldest first (from the informer cache). */
export type PendingRestores = (namespace: string) => RestoreObject[];

export interface WebhookDeps {
  readonly ctx: ControllerContext;
  readonly pendingRestores: PendingRestores;
}

export async function reviewPod(deps: WebhookDeps, review: AdmissionReview): Promise<{ response: AdmissionResponse; result: 'patched' | 'unchanged' }> {
  const req = review.request;
  const unchanged = { response: { uid: req?.uid ?? '', allowed: true }, result: 'unchanged' as const };
  const pod = req?.object;
  if (!req || req.operation !== 'CREATE' || req.kind?.kind !== 'Pod' || !pod) return unchanged;
  const mutation = await mutationFor(deps, pod, req.namespace ?? pod.metadata?.namespace ?? '');
  if (!mutation) return unchanged;
  const ops = patchFor(pod, mutation);
  return { response: { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') }, result: 'patched' };
}

/** The same decision for a cluster without a webhook (standalone mode): the pod as admitted. */
export async function admitPod(deps: WebhookDeps, pod: V1Pod, namespace: string): Promise<V1Pod> {
  const m = await mutationFor(deps, pod, namespace);
  if (!m) return pod;
  return {
    ...pod,
    metadata: { ...pod.metadata, labels: { ...pod.metadata?.labels, ...m.labels }, annotations: { ...pod.metadata?.annotations, ...m.annotations } },
    spec: { containers: [], ...pod.spec, initContainers: [m.container, ...(pod.spec?.initContainers ?? [])], ...(m.volume ? { volumes: [...(pod.spec?.volumes ?? []), m.volume] } : {}) },
  };
}

interface PodMutation {
  readonly container: V1Container;
  /** The marker emptyDir, when the pod restores a block volume. */
  readonly volume?: V1Volume;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

async function mutationFor(deps: WebhookDeps, pod: V1Pod, namespace: string): Promise<PodMutation | undefined> {
  const restores = deps.pendingRestores(namespace);
  if (restores.length === 0) return undefined;
  // Helper pods run restore-wait themselves; their claim's item goes through restore-claims.ts.
  if (pod.metadata?.labels?.[LABELS.restoredBy] || pod.metadata?.labels?.[HELPER_POD_LABEL] !== undefined || (pod.spec?.initContainers ?? []).some((c) => c.name === RESTORE_WAIT_CONTAINER)) return undefined;
  for (const restore of restores) {
    if (!selectorMatches(restore.spec.selection?.labelSelector, pod.metadata?.labels ?? {})) continue;
    const matched = await matchAgainst(deps.ctx, restore, pod, namespace);
    if (matched.size > 0) return mutation(deps.ctx, restore, matched, blockVolumes(pod));
  }
  return undefined;
}

/** Volumes some container of the pod uses as a raw block device. */
function blockVolumes(pod: V1Pod): Set<string> {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return new Set(containers.flatMap((c) => (c.volumeDevices ?? []).map((d) => d.name)));
}

function mutation(c: ControllerContext, restore: RestoreObject, matched: Map<string, RestoreItem>, block: ReadonlySet<string>): PodMutation {
  const volumes = [...matched.keys()];
  return {
    container: restoreWaitContainer(c, restore, volumes, block),
    ...(volumes.some((v) => block.has(v)) ? { volume: { name: RESTORE_MARKER_VOLUME, emptyDir: { sizeLimit: '1Mi' } } } : {}),
    labels: { [LABELS.restoredBy]: restore.metadata.name ?? '' },
    annotations: {
      [ANNOTATIONS_OUT.restoreUid]: restore.metadata.uid ?? '',
      [ANNOTATIONS_OUT.restoreNamespace]: restore.metadata.namespace ?? '',
      [ANNOTATIONS_OUT.restoreVolumes]: JSON.stringify(Object.fromEntries([...matched].map(([v, i]) => [v, i.key]))),
    },
  };
}

async function matchAgainst(c: ControllerContext, restore: RestoreObject, pod: V1Pod, namespace: string): Promise<Map<string, RestoreItem>> {
  const all = await restoreItems(c, restore);
  const toClaims = claimItemKeys(restore, all);
  const items = all.filter((i) => i.targetNamespace === namespace && !toClaims.has(i.key));
  if (items.length === 0) return new Map();
  const taken = await takenItems(c, restore, namespace);
  const controller = pod.metadata?.ownerReferences?.find((o) => o.controller);
  const podName = pod.metadata?.name ?? pod.metadata?.generateName ?? '';
  const volumes = (pod.spec?.volumes ?? []).map((v) => ({ name: v.name, ...(v.persistentVolumeClaim ? { claimName: v.persistentVolumeClaim.claimName } : {}) }));
  const commandRestoreVolume = pod.metadata?.annotations?.[ANNOTATIONS.backupCommandRestoreVolume]?.trim();
  return matchPod({ name: podName, controller: controller ? { kind: controller.kind, name: controller.name } : undefined, volumes, commandRestoreVolume }, items, taken);
}

/** Items already given to a live pod (its annotation) or to a PodVolumeRestore. */
async function takenItems(c: ControllerContext, restore: RestoreObject, namespace: string): Promise<Set<string>> {
  const taken = new Set<string>();
  const pods = await c.cluster.listPods(namespace, `${LABELS.restoredBy}=${restore.metadata.name}`);
  for (const p of pods) {
    if (p.metadata?.deletionTimestamp || p.metadata?.annotations?.[ANNOTATIONS_OUT.restoreUid] !== restore.metadata.uid) continue;
    for (const key of Object.values(JSON.parse(p.metadata?.annotations?.[ANNOTATIONS_OUT.restoreVolumes] ?? "{}") as Record<string, string>)) taken.add(key);
  }
  const pvrs = await c.cluster.list<PvrObject>('PodVolumeRestore', restore.metadata.namespace, `${LABELS.restore}=${restore.metadata.name}`);
  for (const p of pvrs) if (p.status?.phase !== 'Failed' || p.status.error?.code !== 'PodNotFound') taken.add(p.metadata.annotations?.['restore.ferry.dev/item'] ?? '');
  return taken;
}

function escape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * `block`: the volumes among `volumes` that are raw block devices; each is waited for in its
 * own directory of the marker emptyDir (the device itself is mapped for the whole pod by the
 * kubelet before any container starts, so the init container needs no volumeDevices entry).
 */
export function restoreWaitContainer(c: ControllerContext, restore: RestoreObject, volumes: readonly string[], block: ReadonlySet<string> = new Set()): V1Container {
  const timeout = parseDuration(restore.spec.volumeTimeout ?? RESTORE_DEFAULTS.volumeTimeout);
  // restore-wait also waits while the pod is scheduled and the agent queues the job: give it an hour more than the volume limit.
  const waitSeconds = Math.ceil((timeout.ok ? timeout.milliseconds : 4 * 3600_000) / 1000) + 3600;
  return {
    name: RESTORE_WAIT_CONTAINER,
    image: c.settings.restoreWait.image,
    imagePullPolicy: 'IfNotPresent',
    command: [...c.settings.restoreWait.command],
    args: ['--restore-uid', restore.metadata.uid ?? '', '--timeout', `${waitSeconds}s`, ...volumes.map((v) => `${RESTORE_MOUNT_ROOT}/${v}`)],
    volumeMounts: volumes.map((v): V1VolumeMount => (block.has(v) ? { name: RESTORE_MARKER_VOLUME, mountPath: `${RESTORE_MOUNT_ROOT}/${v}`, subPath: v } : { name: v, mountPath: `${RESTORE_MOUNT_ROOT}/${v}` })),
    resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function patchFor(pod: V1Pod, m: PodMutation): unknown[] {
  const ops: unknown[] = [];
  ops.push(pod.spec?.initContainers && pod.spec.initContainers.length > 0 ? { op: 'add', path: '/spec/initContainers/0', value: m.container } : { op: 'add', path: '/spec/initContainers', value: [m.container] });
  if (m.volume) ops.push(pod.spec?.volumes ? { op: 'add', path: '/spec/volumes/-', value: m.volume } : { op: 'add', path: '/spec/volumes', value: [m.volume] });
  if (!pod.metadata?.labels) ops.push({ op: 'add', path: '/metadata/labels', value: {} });
  for (const [k, v] of Object.entries(m.labels)) ops.push({ op: 'add', path: `/metadata/labels/${escape(k)}`, value: v });
  if (!pod.metadata?.annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
  for (const [k, v] of Object.entries(m.annotations)) ops.push({ op: 'add', path: `/metadata/annotations/${escape(k)}`, value: v });
  return ops;
}

export interface WebhookServerOptions {
  readonly deps: WebhookDeps;
  readonly certFile: string;
  readonly keyFile: string;
  /** How often the certificate files are checked for rotation. */
  readonly reloadIntervalMs?: number;
}

/** The HTTPS server; the certificate is re-read when its files change (cert-manager rotation). */
export class WebhookServer {
  private server?: Server;

  constructor(private readonly o: WebhookServerOptions) {}

  async listen(host: string, port: number): Promise<number> {
    const { certFile, keyFile } = this.o;
    const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => void this.handle(req, res));
    const reload = (): void => {
      try {
        server.setSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
        this.o.deps.ctx.log.info('webhook certificate reloaded', { certFile });
      } catch (err) {
        this.o.deps.ctx.log.warn('webhook certificate reload failed; keeping the previous one', { certFile, error: messageOf(err) });
      }
    };
    for (const f of [certFile, keyFile]) watchFile(f, { interval: this.o.reloadIntervalMs ?? 10_000 }, (cur, prev) => cur.mtimeMs !== prev.mtimeMs && reload());
    this.server = server;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    unwatchFile(this.o.certFile);
    unwatchFile(this.o.keyFile);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const metrics = this.o.deps.ctx.metrics;
    let result = 'error';
    try {
      if (req.method !== 'POST') return reply(res, 405, { message: 'POST an AdmissionReview' });
      const review = JSON.parse(await readBody(req)) as AdmissionReview;
      // One server for both webhooks: what is reviewed decides, not the path.
      const out = review.request?.kind?.kind === 'Restore' ? await reviewRestore(this.o.deps.ctx, review.request as unknown as RestoreAdmissionRequest) : await reviewPod(this.o.deps, review);
      result = out.result;
      reply(res, 200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: out.response });
    } catch (err) {
      this.o.deps.ctx.log.error('admission review failed', { error: messageOf(err) });
      reply(res, 500, { message: `ferry webhook failed: ${messageOf(err)}` });
    } finally {
      metrics.webhookDuration.observe({ result }, (performance.now() - started) / 1000);
    }
  }
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 8 * 1024 * 1024) req.destroy(new Error('admission review larger than 8 MiB'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** From a cache of Restores: those in progress, not canceled, that may restore into `namespace` (a tenant's elsewhere only when its admission checked that namespace). */
export function pendingRestoresFrom(list: () => readonly RestoreObject[], coordinatorNamespace: string): PendingRestores {
  return (namespace) =>
    list()
      .filter((r) => r.status?.phase === 'InProgress' && !r.spec.cancel && !isTerminalPhase(r.status.phase))
      .filter((r) => r.metadata.namespace === namespace || r.metadata.namespace === coordinatorNamespace || (verifiedCreator(r) !== undefined && restoreTargets(r.spec, r.metadata.namespace ?? '').includes(namespace)))
      .sort((a, b) => String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')));
}
