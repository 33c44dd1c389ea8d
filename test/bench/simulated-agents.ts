/**
 * Bench support (not product): node agents reduced to the AgentHub protocol, all in one
 * process: each says Hello for its node over a real gRPC stream, answers every backup
 * Assign at once with a result (a made-up snapshot id; no data is read or written) and
 * heartbeats. They let a benchmark measure the coordinator alone: how fast it creates and
 * assigns volumes and takes their results, with the agents costing next to nothing.
 */
import { randomBytes } from 'node:crypto';
import { credentials, loadPackageDefinition, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { AGENT_PROTO_FILE, PROTO_LOADER_OPTIONS, type AgentMessage, type AgentProtoGrpcType, type CoordinatorMessage__Output, type Job__Output } from '@ferry/api';

type Stream = ClientDuplexStream<AgentMessage, CoordinatorMessage__Output>;

export interface SimulatedAgentsOptions {
  /** The coordinator's AgentHub (plaintext: the coordinator runs with --insecure). */
  readonly address: string;
  readonly nodes: readonly string[];
  readonly heartbeatIntervalMs?: number;
}

export class SimulatedAgents {
  /** Backup job id → when its Assign arrived (ms since the epoch); a second Assign of a job is counted in `reassigned`. */
  readonly assignedAt = new Map<string, number>();
  readonly ackedAt = new Map<string, number>();
  reassigned = 0;
  private readonly streams: Stream[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly welcomed = new Set<string>();

  private constructor(private readonly o: SimulatedAgentsOptions) {}

  /** Connects one agent per node; resolves when every one was welcomed. */
  static async connect(o: SimulatedAgentsOptions): Promise<SimulatedAgents> {
    const agents = new SimulatedAgents(o);
    const proto = loadPackageDefinition(loadSync(AGENT_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as AgentProtoGrpcType;
    await Promise.all(o.nodes.map((node) => agents.start(proto, node)));
    return agents;
  }

  private start(proto: AgentProtoGrpcType, node: string): Promise<void> {
    // One channel per agent, as separate processes would have (no shared HTTP/2 connection).
    const client = new proto.ferry.v1.AgentHub(this.o.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const stream = client.Connect() as unknown as Stream;
    this.streams.push(stream);
    return new Promise((resolve, reject) => {
      stream.on('error', (err: Error) => (this.welcomed.has(node) ? undefined : reject(new Error(`simulated agent ${node}: ${err.message}`))));
      stream.on('data', (m: CoordinatorMessage__Output) => {
        if (m.welcome) {
          this.welcomed.add(node);
          resolve();
        } else if (m.assign?.job) this.answer(stream, m.assign.job);
        else if (m.resultAck) this.ackedAt.set(m.resultAck.jobId, Date.now());
      });
      stream.write({ hello: { nodeName: node, agentVersion: 'bench', instanceId: `sim-${node}-${randomBytes(4).toString('hex')}`, movers: ['MOVER_KIND_NATIVE'], maxConcurrentJobs: 2, jobs: [] } });
      const beat = setInterval(() => stream.write({ heartbeat: { runningJobs: 0, sentAtUnixMs: Date.now() } }), this.o.heartbeatIntervalMs ?? 10_000);
      this.timers.push(beat);
    });
  }

  private answer(stream: Stream, job: Job__Output): void {
    // Maintenance jobs (checks of new repositories) are left unanswered: they are not volumes.
    if (job.kind !== 'JOB_KIND_BACKUP') return;
    const now = Date.now();
    if (this.assignedAt.has(job.jobId)) this.reassigned++;
    else this.assignedAt.set(job.jobId, now);
    // A real agent reports the job before it finishes it; the coordinator resends jobs an agent does not report.
    stream.write({ progress: { jobId: job.jobId, phase: 'JOB_PHASE_RUNNING', filesDone: 0, bytesDone: 0, bytesPerSecond: 0 } });
    const stats = { filesNew: 1, filesChanged: 0, filesUnmodified: 0, dirs: 1, bytesRead: 4096, bytesProcessed: 4096, bytesAdded: 4096, bytesDeduplicated: 0, durationSeconds: 0.001 };
    stream.write({ result: { jobId: job.jobId, kind: 'JOB_KIND_BACKUP', backup: { snapshotId: randomBytes(32).toString('hex'), parentSnapshotId: '', stats }, fileErrors: [], fileErrorsTotal: 0, startedAtUnixMs: now, finishedAtUnixMs: now, mover: 'MOVER_KIND_NATIVE' } });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.streams) s.cancel();
  }
}
