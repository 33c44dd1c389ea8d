/**
 * The agent's end of AgentHub.Connect: one bidirectional stream at a time, opened with
 * Hello and considered connected once the coordinator's Welcome arrives. When the stream
 * ends for any reason it is opened again after an exponential backoff with jitter; the
 * caller re-sends what the coordinator has not acknowledged (see Agent).
 */
import type { Clock } from '@ferry/blobstore';
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import type { AgentHubClient, AgentMessage, CoordinatorMessage__Output, Heartbeat, Hello } from '@ferry/api';
import type { Logger } from '@ferry/log';
import { loadAgentProto } from './proto.js';
import type { CredentialsSource } from './tls.js';

export interface BackoffOptions {
  /** Ceiling of the first retry delay; doubles per failed attempt. Default 500. */
  readonly initialMs?: number;
  /** Largest ceiling. Default 30000. */
  readonly maxMs?: number;
}

export interface HubClientOptions {
  /** gRPC target, e.g. `ferry-coordinator.ferry-system.svc:7443`. */
  readonly address: string;
  readonly credentials: CredentialsSource;
  /** TLS server name to verify instead of the address's host. */
  readonly serverName?: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly random?: () => number;
  readonly backoff?: BackoffOptions;
  /** Default 10000. */
  readonly heartbeatIntervalMs?: number;
  /** How long to wait for Welcome after Hello. Default 15000. */
  readonly welcomeTimeoutMs?: number;
  readonly hello: () => Hello;
  readonly heartbeat: () => Heartbeat;
  readonly onMessage: (message: CoordinatorMessage__Output) => void;
  /** After Welcome. */
  readonly onConnected: () => void;
  readonly onDisconnected: () => void;
  /** Each attempt's outcome, for metrics. */
  readonly onAttempt?: (result: 'welcomed' | 'failed') => void;
}

type Stream = ClientDuplexStream<AgentMessage, CoordinatorMessage__Output>;

export class HubClient {
  private readonly stopping = new AbortController();
  private stream: Stream | undefined;
  private isConnected = false;
  private loopDone: Promise<void> | undefined;

  constructor(private readonly options: HubClientOptions) {}

  get connected(): boolean {
    return this.isConnected;
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Ends the stream and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.stream?.end();
    this.stream?.cancel();
    await this.loopDone;
  }

  /** Sends on the open stream; false when there is none (the caller keeps what matters). */
  send(message: AgentMessage): boolean {
    if (!this.isConnected || !this.stream) return false;
    try {
      this.stream.write(message);
      return true;
    } catch (err) {
      this.options.log.warn('write to the coordinator failed', { error: (err as Error).message });
      return false;
    }
  }

  /** Closes the current stream; the loop opens a new one. */
  reconnect(): void {
    this.stream?.cancel();
  }

  private async loop(): Promise<void> {
    const initial = this.options.backoff?.initialMs ?? 500;
    const max = this.options.backoff?.maxMs ?? 30_000;
    const random = this.options.random ?? Math.random;
    let attempt = 0;
    while (!this.stopping.signal.aborted) {
      const welcomed = await this.session();
      // A welcomed session was counted when it started (run), not when it ended hours later.
      if (!welcomed) this.options.onAttempt?.('failed');
      if (this.stopping.signal.aborted) break;
      attempt = welcomed ? 0 : attempt + 1;
      // "Equal jitter": at least half the ceiling, so a fleet of agents neither hammers a
      // restarting coordinator nor reconnects in lockstep.
      const ceiling = Math.min(max, initial * 2 ** attempt);
      const delayMs = Math.round(ceiling / 2 + random() * (ceiling / 2));
      this.options.log.info('reconnecting to the coordinator', { address: this.options.address, delayMs, attempt });
      await this.options.clock.sleep(delayMs, this.stopping.signal).catch(() => undefined);
    }
  }

  /** One stream, from dial to end. True when the coordinator welcomed it. */
  private async session(): Promise<boolean> {
    const { log, address } = this.options;
    let loaded;
    try {
      loaded = await this.options.credentials.load();
    } catch (err) {
      log.error('cannot load the coordinator credentials', { error: (err as Error).message });
      return false;
    }
    const AgentHub = loadAgentProto().ferry.v1.AgentHub;
    const channelOptions: Record<string, string | number> = {
      // Detects a silently dead connection (node or coordinator gone) within ~1.5 min.
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
      ...(this.options.serverName ? { 'grpc.ssl_target_name_override': this.options.serverName, 'grpc.default_authority': this.options.serverName } : {}),
    };
    const client: AgentHubClient = new AgentHub(address, loaded.credentials, channelOptions);
    const session = new AbortController();
    try {
      const stream = client.Connect();
      this.stream = stream;
      if (this.stopping.signal.aborted) stream.cancel();
      return await this.run(stream, loaded.fingerprint, session);
    } finally {
      session.abort();
      this.stream = undefined;
      if (this.isConnected) {
        this.isConnected = false;
        this.options.onDisconnected();
      }
      client.close();
    }
  }

  private run(stream: Stream, fingerprint: string, session: AbortController): Promise<boolean> {
    const { log, clock } = this.options;
    return new Promise<boolean>((resolve) => {
      let welcomed = false;
      let ended = false;
      const end = (why: string, fields: Record<string, string | number> = {}): void => {
        if (ended) return;
        ended = true;
        if (welcomed) log.warn('coordinator stream ended', { why, ...fields });
        else log.warn('could not connect to the coordinator', { address: this.options.address, why, ...fields });
        stream.cancel();
        resolve(welcomed);
      };
      stream.on('data', (message: CoordinatorMessage__Output) => {
        if (message.body === 'welcome' && !welcomed) {
          welcomed = true;
          this.isConnected = true;
          log.info('connected to the coordinator', { address: this.options.address, coordinator: message.welcome?.coordinatorId ?? '' });
          this.options.onAttempt?.('welcomed');
          this.options.onConnected();
          void this.heartbeats(stream, fingerprint, session.signal);
          return;
        }
        this.options.onMessage(message);
      });
      stream.on('error', (err: ServiceError) => end(err.details || err.message, { grpcCode: err.code }));
      stream.on('end', () => end('the coordinator closed the stream'));
      stream.on('close', () => end('closed'));
      clock.sleep(this.options.welcomeTimeoutMs ?? 15_000, session.signal).then(
        () => !welcomed && end('no Welcome from the coordinator in time'),
        () => undefined,
      );
      stream.write({ hello: this.options.hello() });
    });
  }

  private async heartbeats(stream: Stream, fingerprint: string, signal: AbortSignal): Promise<void> {
    const interval = this.options.heartbeatIntervalMs ?? 10_000;
    try {
      for (;;) {
        await this.options.clock.sleep(interval, signal);
        if (signal.aborted) return;
        stream.write({ heartbeat: this.options.heartbeat() });
        if (await this.options.credentials.changed(fingerprint)) {
          this.options.log.info('TLS files changed; reconnecting with the new ones');
          stream.cancel();
          return;
        }
      }
    } catch {
      // the session ended
    }
  }
}
