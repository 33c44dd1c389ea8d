/**
 * The AgentHub gRPC server: one bidirectional stream per node agent. It welcomes agents
 * whose client certificate names the node they claim (or, in shared-certificate mode, is
 * the one certificate all agents share), keeps one session per node, sends
 * assignments, cancels and restore-may-start, and hands progress and results to the
 * controllers. A result is acknowledged only after the controller stored it, so the
 * agent re-sends it (at-least-once) until then.
 */
import { readFile } from 'node:fs/promises';
import { experimental, loadPackageDefinition, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  AGENT_PROTO_FILE,
  PROTO_LOADER_OPTIONS,
  type AgentMessage__Output,
  type AgentProtoGrpcType,
  type CoordinatorMessage,
  type Hello__Output,
  type Job,
  type JobPhase__Output,
  type JobProgress__Output,
  type JobResult__Output,
} from '@ferry/api';
import type { AgentIdentity } from './agent-identity.js';
import type { Clock } from './clock.js';
import { CoordinatorError, grpcStatusOf, messageOf } from './errors.js';
import type { Logger } from '@ferry/log';

type Stream = ServerDuplexStream<AgentMessage__Output, CoordinatorMessage>;

export interface AgentSession {
  readonly id: number;
  readonly node: string;
  readonly instanceId: string;
  readonly agentVersion: string;
  readonly connectedAt: number;
  /** Jobs the agent reported in Hello or progress, with their latest phase. */
  readonly jobs: Map<string, JobPhase__Output>;
  /** RestoreMayStart already sent on this stream. */
  readonly mayStartSent: Set<string>;
}

export interface HubHandlers {
  /** Stores the result; resolves once it is durable (then the hub acks it). */
  onResult(result: JobResult__Output, session: AgentSession): Promise<void>;
  onProgress(progress: JobProgress__Output, session: AgentSession): void;
  onConnect(session: AgentSession): void;
  onDisconnect(node: string): void;
}

export interface HubTls {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** How often the files are checked for rotation. */
  readonly refreshIntervalMs?: number;
}

export interface AgentHubOptions {
  readonly clock: Clock;
  readonly log: Logger;
  readonly coordinatorId: string;
  readonly handlers: HubHandlers;
  /** Undefined: plaintext (only with --insecure). */
  readonly tls?: HubTls;
  /** Check that the client certificate names the node in Hello (default true with TLS). */
  readonly verifyNodeIdentity?: boolean;
  /** Which client certificates may speak for a node (default node-certificate). */
  readonly identity?: AgentIdentity;
  /** How many times storing a result is retried before waiting for the agent to re-send it. */
  readonly resultAttempts?: number;
}

interface Connection {
  readonly stream: Stream;
  session?: AgentSession;
}

let proto: AgentProtoGrpcType | undefined;
function loadProto(): AgentProtoGrpcType {
  proto ??= loadPackageDefinition(loadSync(AGENT_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as AgentProtoGrpcType;
  return proto;
}

export class AgentHub {
  private readonly server: Server;
  private readonly sessions = new Map<string, { session: AgentSession; stream: Stream }>();
  private readonly lastSeen = new Map<string, number>();
  private nextId = 1;
  private port = 0;

  constructor(private readonly o: AgentHubOptions) {
    // Agents ping every 60 s; allow that and detect dead peers within a minute or two.
    this.server = new Server({
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    } as Record<string, number>);
    this.server.addService(loadProto().ferry.v1.AgentHub.service, { Connect: (stream: Stream) => this.onStream(stream) });
  }

  async listen(address: string): Promise<number> {
    const creds = await this.credentials();
    const identity = this.o.identity;
    if (this.o.tls && identity?.mode === 'shared-certificate') {
      this.o.log.warn('agent identity is shared-certificate: any holder of the agent certificate can claim any node and receive its jobs and repository credentials', { sharedName: identity.sharedName });
    }
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port))));
    return this.port;
  }

  private async credentials(): Promise<ServerCredentials> {
    const tls = this.o.tls;
    if (!tls) return ServerCredentials.createInsecure();
    // Fail early and clearly on unreadable files; the watcher then picks up rotations.
    for (const f of [tls.caFile, tls.certFile, tls.keyFile]) {
      await readFile(f).catch((err: unknown) => {
        throw new CoordinatorError('InvalidConfig', `cannot read TLS file ${f} for the AgentHub server (${messageOf(err)}); mount the certificate Secret or pass --insecure for local development`);
      });
    }
    const provider = new experimental.FileWatcherCertificateProvider({
      caCertificateFile: tls.caFile,
      certificateFile: tls.certFile,
      privateKeyFile: tls.keyFile,
      refreshIntervalMs: tls.refreshIntervalMs ?? 60_000,
    });
    return experimental.createCertificateProviderServerCredentials(provider, provider, true);
  }

  get connectedNodes(): string[] {
    return [...this.sessions.keys()];
  }

  session(node: string): AgentSession | undefined {
    return this.sessions.get(node)?.session;
  }

  /** When the node's agent was last connected (now, if it is); undefined if never seen. */
  lastSeenAt(node: string): number | undefined {
    return this.sessions.has(node) ? this.o.clock.now() : this.lastSeen.get(node);
  }

  assign(node: string, job: Job): boolean {
    return this.send(node, { assign: { job } });
  }

  cancel(node: string, jobId: string, reason: string): boolean {
    return this.send(node, { cancel: { jobId, reason } });
  }

  /** Sends RestoreMayStart once per stream (again after a reconnect). */
  restoreMayStart(node: string, jobId: string): boolean {
    const entry = this.sessions.get(node);
    if (!entry) return false;
    if (entry.session.mayStartSent.has(jobId)) return true;
    entry.session.mayStartSent.add(jobId);
    return this.send(node, { restoreMayStart: { jobId } });
  }

  private send(node: string, message: CoordinatorMessage): boolean {
    const entry = this.sessions.get(node);
    if (!entry) return false;
    entry.stream.write(message);
    return true;
  }

  async stop(): Promise<void> {
    for (const { stream } of this.sessions.values()) stream.end();
    this.sessions.clear();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
  }

  private onStream(stream: Stream): void {
    const conn: Connection = { stream };
    stream.on('data', (message: AgentMessage__Output) => this.onMessage(conn, message));
    const closed = (): void => this.onClosed(conn);
    stream.on('end', () => {
      closed();
      stream.end();
    });
    stream.on('error', closed);
    stream.on('close', closed);
  }

  private onClosed(conn: Connection): void {
    const s = conn.session;
    if (!s) return;
    const entry = this.sessions.get(s.node);
    if (entry?.session !== s) return;
    this.sessions.delete(s.node);
    this.lastSeen.set(s.node, this.o.clock.now());
    this.o.log.info('agent disconnected', { node: s.node, instanceId: s.instanceId });
    this.o.handlers.onDisconnect(s.node);
  }

  private onMessage(conn: Connection, message: AgentMessage__Output): void {
    if (message.body === 'hello' && message.hello) return this.onHello(conn, message.hello);
    const session = conn.session;
    if (!session) {
      conn.stream.emit('error', Object.assign(new Error('the first message must be Hello'), { code: 9 }));
      return;
    }
    if (message.body === 'progress' && message.progress) {
      session.jobs.set(message.progress.jobId, message.progress.phase);
      this.o.handlers.onProgress(message.progress, session);
    } else if (message.body === 'result' && message.result) {
      session.jobs.set(message.result.jobId, 'JOB_PHASE_FINISHED');
      void this.storeResult(conn, message.result, session);
    }
  }

  private onHello(conn: Connection, hello: Hello__Output): void {
    const problem = this.identityProblem(conn.stream, hello.nodeName);
    if (problem) {
      this.o.log.warn('agent refused', { node: hello.nodeName, reason: problem.message });
      const { code, details } = grpcStatusOf(problem);
      conn.stream.emit('error', Object.assign(new Error(details), { code, details }));
      return;
    }
    const session: AgentSession = {
      id: this.nextId++,
      node: hello.nodeName,
      instanceId: hello.instanceId,
      agentVersion: hello.agentVersion,
      connectedAt: this.o.clock.now(),
      jobs: new Map(hello.jobs.map((j) => [j.jobId, j.phase])),
      mayStartSent: new Set(),
    };
    const previous = this.sessions.get(hello.nodeName);
    conn.session = session;
    this.sessions.set(hello.nodeName, { session, stream: conn.stream });
    if (previous) previous.stream.end();
    conn.stream.write({ welcome: { coordinatorId: this.o.coordinatorId } });
    this.o.log.info('agent connected', { node: session.node, instanceId: session.instanceId, version: session.agentVersion, jobs: session.jobs.size });
    this.o.handlers.onConnect(session);
  }

  /** The node an agent may speak for is the one its client certificate names. */
  private identityProblem(stream: Stream, nodeName: string): CoordinatorError | undefined {
    if (!nodeName) return new CoordinatorError('InvalidArgument', 'Hello carries no node_name; set --node-name on the agent');
    if (!this.o.tls || this.o.verifyNodeIdentity === false) return undefined;
    const cert = stream.getAuthContext().sslPeerCertificate;
    if (!cert) return new CoordinatorError('Unauthenticated', `agent for node ${nodeName} presented no client certificate`);
    const names = certificateNames(cert);
    if (names.some((n) => n === nodeName || n === `ferry-agent-${nodeName}` || n === `system:node:${nodeName}`)) return undefined;
    const identity = this.o.identity ?? { mode: 'node-certificate' };
    if (identity.mode === 'shared-certificate') {
      if (names.includes(identity.sharedName)) return undefined;
      return new CoordinatorError('PermissionDenied', `the client certificate names ${names.join(', ') || 'nothing'}, neither node ${nodeName} nor the shared agent name ${identity.sharedName}; issue the agent the shared certificate or one whose CN or DNS SAN is the node name`);
    }
    return new CoordinatorError('PermissionDenied', `the client certificate names ${names.join(', ') || 'nothing'}, not node ${nodeName}; issue the agent a certificate whose CN or DNS SAN is the node name, or run the coordinator with --agent-identity shared-certificate to accept one shared agent certificate`);
  }

  private async storeResult(conn: Connection, result: JobResult__Output, session: AgentSession): Promise<void> {
    const attempts = this.o.resultAttempts ?? 3;
    for (let i = 1; i <= attempts; i++) {
      try {
        await this.o.handlers.onResult(result, session);
        if (this.sessions.get(session.node)?.session === session) conn.stream.write({ resultAck: { jobId: result.jobId } });
        session.jobs.delete(result.jobId);
        return;
      } catch (err) {
        this.o.log.warn('storing a job result failed', { node: session.node, jobId: result.jobId, attempt: i, error: messageOf(err) });
        if (i < attempts) await this.o.clock.sleep(500 * i);
      }
    }
  }
}

function certificateNames(cert: { subject?: { CN?: string | string[] }; subjectaltname?: string }): string[] {
  const cn = cert.subject?.CN;
  const cns = Array.isArray(cn) ? cn : cn ? [cn] : [];
  const sans = (cert.subjectaltname ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  return [...cns, ...sans];
}
