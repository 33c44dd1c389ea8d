/**
 * The agent: wires the coordinator connection, the job runner, the result outbox, the
 * metrics and the health endpoints together, and shuts down gracefully.
 */
import { randomUUID } from 'node:crypto';
import { access, constants, mkdir } from 'node:fs/promises';
import { systemClock, type Clock } from '@ferry/blobstore';
import type { CoordinatorMessage__Output, Hello, JobResult, MoverKind__Output } from '@ferry/api';
import { detectRestic } from '@ferry/restic';
import type { AgentConfig } from './config.js';
import { AgentError } from './errors.js';
import { createExecutor, type Executor } from './executor.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import { HubClient, type BackoffOptions } from './hub-client.js';
import { JobRunner } from './jobs.js';
import { createLogger, type Logger } from '@ferry/log';
import { AgentMetrics } from './metrics.js';
import { moverFactory } from './movers.js';
import { Outbox } from './outbox.js';
import { insecureCredentials, tlsCredentials, type CredentialsSource } from './tls.js';
import { AGENT_VERSION } from './version.js';

export interface AgentOptions {
  readonly config: AgentConfig;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly random?: () => number;
  readonly wallClock?: () => number;
  readonly backoff?: BackoffOptions;
  readonly welcomeTimeoutMs?: number;
  readonly progressIntervalMs?: number;
  readonly abortGraceMs?: number;
  /** How long shutdown waits for the coordinator to acknowledge the last results. Default 5000. */
  readonly flushTimeoutMs?: number;
  /** Node's process metrics; default true. */
  readonly defaultMetrics?: boolean;
  /** Replaces the executor (tests that need a job to block on purpose). */
  readonly executor?: Executor;
  readonly credentials?: CredentialsSource;
}

export class Agent {
  readonly metrics: AgentMetrics;
  readonly log: Logger;
  readonly instanceId = randomUUID();
  private readonly clock: Clock;
  private readonly outbox: Outbox;
  private readonly runner: JobRunner;
  private readonly hub: HubClient;
  private health: HealthServer | undefined;
  private movers: MoverKind__Output[] = ['MOVER_KIND_NATIVE'];
  private shutdownStarted: Promise<void> | undefined;

  constructor(private readonly options: AgentOptions) {
    const config = options.config;
    this.clock = options.clock ?? systemClock;
    this.log = (options.log ?? createLogger({ level: config.logLevel })).child({ node: config.nodeName });
    this.metrics = new AgentMetrics({ nodeName: config.nodeName, version: AGENT_VERSION, defaultMetrics: options.defaultMetrics ?? true });
    this.outbox = new Outbox({ cacheDir: config.cacheDir, log: this.log, ...(options.wallClock ? { wallClock: options.wallClock } : {}) });
    const execute =
      options.executor ??
      createExecutor({
        podsDir: config.podsDir,
        createMover: moverFactory({ cacheDir: config.cacheDir, metrics: this.metrics, resticBinary: config.resticBinary, ...(config.nativeWorkers ? { nativeWorkers: config.nativeWorkers } : {}) }),
      });
    this.runner = new JobRunner({
      maxConcurrent: config.maxConcurrentJobs,
      execute,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      onProgress: (progress) => this.hub.send({ progress }),
      onResult: (result) => this.deliver(result),
      ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
      ...(options.abortGraceMs !== undefined ? { abortGraceMs: options.abortGraceMs } : {}),
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
    });
    this.hub = new HubClient({
      address: config.coordinator,
      credentials: options.credentials ?? (config.insecure ? insecureCredentials() : tlsCredentials(config.tls)),
      ...(config.tls.serverName ? { serverName: config.tls.serverName } : {}),
      clock: this.clock,
      log: this.log,
      ...(options.random ? { random: options.random } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      ...(options.welcomeTimeoutMs !== undefined ? { welcomeTimeoutMs: options.welcomeTimeoutMs } : {}),
      hello: () => this.hello(),
      heartbeat: () => ({ runningJobs: this.runner.running, sentAtUnixMs: (this.options.wallClock ?? Date.now)() }),
      onMessage: (m) => this.onMessage(m),
      onConnected: () => this.onConnected(),
      onDisconnected: () => this.metrics.connected.set(0),
      onAttempt: (result) => this.metrics.connects.inc({ result }),
    });
  }

  /** Connected to a coordinator (what /readyz reports). */
  get ready(): boolean {
    return this.hub.connected;
  }

  get healthPort(): number | undefined {
    return this.health?.port;
  }

  async start(): Promise<void> {
    const config = this.options.config;
    await prepareCacheDir(config.cacheDir);
    await this.outbox.open();
    this.metrics.resultsUnacknowledged.set(this.outbox.size);
    this.movers = await this.detectMovers();
    this.health = await startHealthServer({
      host: config.listenHost,
      port: config.listenPort,
      metrics: () => this.metrics.text(),
      metricsContentType: this.metrics.registry.contentType,
      ready: () => this.ready,
      log: this.log,
    });
    this.log.info('agent started', { version: AGENT_VERSION, coordinator: config.coordinator, podsDir: config.podsDir, metricsPort: this.health.port, tls: !config.insecure, movers: this.movers.join(',') });
    if (config.insecure) this.log.warn('--insecure: the coordinator connection is plaintext and unauthenticated; use it for local development only');
    this.hub.start();
  }

  /**
   * Stops taking jobs, lets running ones finish within `graceMs`, interrupts the rest
   * (reported as ERROR_CODE_INTERRUPTED, retriable), gives the coordinator a moment to
   * acknowledge the results, and closes everything. Results not acknowledged stay on disk.
   */
  shutdown(graceMs = this.options.config.shutdownGraceMs): Promise<void> {
    this.shutdownStarted ??= this.doShutdown(graceMs);
    return this.shutdownStarted;
  }

  private async doShutdown(graceMs: number): Promise<void> {
    const node = this.options.config.nodeName;
    this.log.info('shutting down', { runningJobs: this.runner.running, graceSeconds: graceMs / 1000 });
    this.runner.stopAccepting();
    this.runner.interruptWaiting(`the agent on node ${node} stopped before the job started; assign it again`);
    const grace = new AbortController();
    const idle = this.runner.idle();
    await Promise.race([idle, this.clock.sleep(graceMs, grace.signal).catch(() => undefined)]);
    grace.abort();
    if (this.runner.size > 0) {
      this.log.warn('interrupting jobs still running after the grace period', { jobs: this.runner.size });
      this.runner.interruptAll(`the agent on node ${node} was stopped before the job finished (the job can run again)`);
      await idle;
    }
    await this.outbox.flushed();
    await this.waitForAcks();
    await this.hub.stop();
    await this.health?.close();
    this.log.info('agent stopped', { unacknowledgedResults: this.outbox.size });
  }

  private async waitForAcks(): Promise<void> {
    const deadline = this.clock.now() + (this.options.flushTimeoutMs ?? 5000);
    while (this.outbox.size > 0 && this.hub.connected && this.clock.now() < deadline) await this.clock.sleep(50);
  }

  private hello(): Hello {
    const config = this.options.config;
    const finished = this.outbox.all().map((r) => ({ jobId: r.jobId, kind: r.kind, phase: 'JOB_PHASE_FINISHED' as const }));
    return {
      nodeName: config.nodeName,
      agentVersion: AGENT_VERSION,
      movers: this.movers,
      maxConcurrentJobs: config.maxConcurrentJobs,
      jobs: [...this.runner.statuses(), ...finished],
      instanceId: this.instanceId,
    };
  }

  private onConnected(): void {
    this.metrics.connected.set(1);
    for (const progress of this.runner.latestProgress()) this.hub.send({ progress });
    for (const result of this.outbox.all()) this.hub.send({ result });
  }

  private onMessage(message: CoordinatorMessage__Output): void {
    switch (message.body) {
      case 'assign':
        if (message.assign?.job) this.assign(message.assign.job);
        break;
      case 'cancel':
        if (message.cancel) this.runner.cancel(message.cancel.jobId, message.cancel.reason);
        break;
      case 'restoreMayStart':
        if (message.restoreMayStart) this.runner.allowRestore(message.restoreMayStart.jobId);
        break;
      case 'resultAck':
        if (message.resultAck) void this.acknowledge(message.resultAck.jobId);
        break;
      default:
        this.log.debug('ignoring a message this agent does not know', { body: message.body ?? 'none' });
    }
  }

  private assign(job: NonNullable<NonNullable<CoordinatorMessage__Output['assign']>['job']>): void {
    const waiting = this.outbox.get(job.jobId);
    if (waiting) {
      // The coordinator lost our result (it restarted before storing it): send it again.
      this.hub.send({ result: waiting });
      return;
    }
    this.runner.assign(job);
    if (this.runner.has(job.jobId)) {
      this.outbox
        .markRunning({ jobId: job.jobId, kind: job.kind, mover: job.mover, startedAtUnixMs: (this.options.wallClock ?? Date.now)() })
        .catch((err: unknown) => this.log.warn('could not record the running job in the cache directory', { job: job.jobId, error: (err as Error).message }));
    }
  }

  private deliver(result: JobResult): void {
    this.log.debug('result ready', { job: result.jobId ?? '' });
    void this.outbox.add(result).then(() => {
      this.log.debug('result stored', { job: result.jobId ?? '', connected: this.hub.connected });
      this.metrics.resultsUnacknowledged.set(this.outbox.size);
      if (this.outbox.has(result.jobId ?? '')) this.hub.send({ result });
    });
  }

  private async acknowledge(jobId: string): Promise<void> {
    await this.outbox.acknowledge(jobId);
    this.metrics.resultsUnacknowledged.set(this.outbox.size);
  }

  private async detectMovers(): Promise<MoverKind__Output[]> {
    try {
      const restic = await detectRestic({ binary: this.options.config.resticBinary });
      this.log.info('restic found', { version: `${restic.version.major}.${restic.version.minor}.${restic.version.patch}` });
      return ['MOVER_KIND_NATIVE', 'MOVER_KIND_RESTIC'];
    } catch (err) {
      this.log.warn('restic is not usable; only the native mover is offered', { error: (err as Error).message });
      return ['MOVER_KIND_NATIVE'];
    }
  }
}

async function prepareCacheDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
  } catch (cause) {
    throw new AgentError('InvalidConfig', `cache directory ${dir} is not writable (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}): mount a writable volume there or set --cache-dir`, { cause });
  }
}
