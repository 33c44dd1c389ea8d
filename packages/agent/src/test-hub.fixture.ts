/**
 * Test support (not product): a fake coordinator — an in-test AgentHub server over real
 * gRPC with mutual TLS — certificates made with the openssl CLI, and pod directories
 * laid out like the kubelet's.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { AgentMessage__Output, CoordinatorMessage, Job } from '@ferry/api';
import { loadAgentProto } from './proto.js';
import type { AgentConfig } from './config.js';

export interface TestCerts {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** A CA, a server certificate for localhost/127.0.0.1 and a client certificate, via openssl. */
export function makeCerts(dir: string): TestCerts {
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ferry-test-ca']);
  const leaf = (name: string, cn: string, ext: string): void => {
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    execFileSync('sh', ['-c', `printf '%s\\n' "${ext}" > ${name}.ext`], { cwd: dir });
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  leaf('server', 'ferry-coordinator', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  leaf('client', 'ferry-agent-node-a', 'extendedKeyUsage=clientAuth');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}

type Stream = ServerDuplexStream<AgentMessage__Output, CoordinatorMessage>;

export interface ReceivedMessage {
  readonly stream: number;
  readonly message: AgentMessage__Output;
}

export interface FakeCoordinatorOptions {
  readonly certs?: TestCerts;
  /** Bind to this port (to come back on the same address after a restart). */
  readonly port?: number;
  /** Answer results with ResultAck (default true). */
  readonly autoAck?: boolean;
  /** Messages received across restarts, shared with a previous instance. */
  readonly received?: ReceivedMessage[];
}

/** A fake coordinator: welcomes every stream, records every message, acks results. */
export class FakeCoordinator {
  readonly received: ReceivedMessage[];
  private readonly server = new Server();
  private streams: Stream[] = [];
  private streamCount = 0;
  port = 0;

  private constructor(private readonly options: FakeCoordinatorOptions) {
    this.received = options.received ?? [];
  }

  static async start(options: FakeCoordinatorOptions = {}): Promise<FakeCoordinator> {
    const hub = new FakeCoordinator(options);
    await hub.listen();
    return hub;
  }

  get address(): string {
    return `localhost:${this.port}`;
  }

  get openStreams(): number {
    return this.streams.length;
  }

  private async listen(): Promise<void> {
    const proto = loadAgentProto();
    this.server.addService(proto.ferry.v1.AgentHub.service, {
      Connect: (stream: Stream) => this.onStream(stream),
    });
    const c = this.options.certs;
    const creds = c
      ? ServerCredentials.createSsl(await readFile(c.ca), [{ private_key: await readFile(c.serverKey), cert_chain: await readFile(c.serverCert) }], true)
      : ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${this.options.port ?? 0}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  private onStream(stream: Stream): void {
    const id = ++this.streamCount;
    this.streams.push(stream);
    const forget = (): void => {
      this.streams = this.streams.filter((s) => s !== stream);
    };
    stream.on('data', (message: AgentMessage__Output) => {
      this.received.push({ stream: id, message });
      if (message.body === 'hello') stream.write({ welcome: { coordinatorId: 'fake-coordinator' } });
      if (message.body === 'result' && (this.options.autoAck ?? true)) stream.write({ resultAck: { jobId: message.result!.jobId } });
    });
    stream.on('end', () => {
      forget();
      stream.end();
    });
    stream.on('error', forget);
    stream.on('close', forget);
  }

  send(message: CoordinatorMessage): void {
    const stream = this.streams.at(-1);
    if (!stream) throw new Error('no agent is connected');
    stream.write(message);
  }

  assign(job: Job): void {
    this.send({ assign: { job } });
  }

  /** Ends every open stream with UNAVAILABLE, as a coordinator going away would. */
  dropStreams(): void {
    for (const s of this.streams) s.emit('error', Object.assign(new Error('dropped by the test'), { code: status.UNAVAILABLE }));
    this.streams = [];
  }

  async stop(): Promise<void> {
    this.dropStreams();
    this.server.forceShutdown();
  }

  messages<K extends NonNullable<AgentMessage__Output['body']>>(body: K): NonNullable<AgentMessage__Output[K]>[] {
    return this.received.filter((r) => r.message.body === body).map((r) => r.message[body] as NonNullable<AgentMessage__Output[K]>);
  }

  results(jobId: string) {
    return this.messages('result').filter((r) => r.jobId === jobId);
  }

  async waitFor<T>(probe: () => T | undefined | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
    return waitFor(probe, timeoutMs, what);
  }
}

export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Scratch {
  readonly root: string;
  readonly podsDir: string;
  readonly cacheDir: string;
  readonly certs: TestCerts;
  cleanup(): Promise<void>;
}

export async function scratch(): Promise<Scratch> {
  const root = await mkdtemp(join(tmpdir(), 'ferry-agent-'));
  const podsDir = join(root, 'kubelet', 'pods');
  const cacheDir = join(root, 'cache');
  await mkdir(podsDir, { recursive: true });
  const certDir = join(root, 'certs');
  await mkdir(certDir);
  return { root, podsDir, cacheDir, certs: makeCerts(certDir), cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Creates `<pods>/<uid>/volumes/<plugin>/<dir>` (like the kubelet) and returns it. */
export async function kubeletVolume(podsDir: string, podUid: string, plugin: string, dir: string): Promise<string> {
  const path = join(podsDir, podUid, 'volumes', plugin, dir);
  await mkdir(path, { recursive: true });
  return path;
}

/**
 * A raw block volume as the kubelet lays it out: `<pods>/<uid>/volumeDevices/kubernetes.io~csi/<pv>`
 * links to the published device under the kubelet's plugins directory. The "device" here is
 * a regular file of `size` bytes standing in for one (tests need no loop devices). Returns its path.
 */
export async function kubeletBlockVolume(podsDir: string, podUid: string, pvName: string, size: number): Promise<string> {
  const published = join(podsDir, '..', 'plugins', 'kubernetes.io', 'csi', 'volumeDevices', 'publish', pvName, podUid);
  await mkdir(join(published, '..'), { recursive: true });
  await writeFile(published, '');
  await truncate(published, size);
  const parent = join(podsDir, podUid, 'volumeDevices', 'kubernetes.io~csi');
  await mkdir(parent, { recursive: true });
  await symlink(published, join(parent, pvName));
  return published;
}

export async function kubeletSymlinkVolume(podsDir: string, podUid: string, plugin: string, dir: string, target: string): Promise<string> {
  const parent = join(podsDir, podUid, 'volumes', plugin);
  await mkdir(parent, { recursive: true });
  await symlink(target, join(parent, dir));
  return join(parent, dir);
}

export async function writeFiles(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), content);
  }
}

export function agentConfig(s: Scratch, hub: FakeCoordinator, overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    nodeName: 'node-a',
    podsDir: s.podsDir,
    coordinator: hub.address,
    insecure: false,
    tls: { caFile: s.certs.ca, certFile: s.certs.clientCert, keyFile: s.certs.clientKey },
    maxConcurrentJobs: 2,
    listenHost: '127.0.0.1',
    listenPort: 0,
    cacheDir: s.cacheDir,
    shutdownGraceMs: 5000,
    heartbeatIntervalMs: 1000,
    logLevel: 'debug',
    resticBinary: 'restic',
    nativeWorkers: 1,
    ...overrides,
  };
}

export interface JobInput {
  readonly id: string;
  readonly kind: 'backup' | 'restore';
  readonly podUid: string;
  readonly volumeName?: string;
  readonly volumeKind?: 'VOLUME_KIND_EMPTY_DIR' | 'VOLUME_KIND_CSI_PERSISTENT' | 'VOLUME_KIND_PERSISTENT' | 'VOLUME_KIND_IN_POD';
  readonly pvName?: string;
  readonly repository: string;
  readonly password?: string;
  readonly clusterKey?: Buffer;
  readonly mover?: 'MOVER_KIND_NATIVE' | 'MOVER_KIND_RESTIC';
  readonly snapshotId?: string;
  readonly restoreUid?: string;
  readonly timeoutSeconds?: number;
  /** A raw block volume (volumeDevices). */
  readonly block?: boolean;
}

export function job(input: JobInput): Job {
  return {
    jobId: input.id,
    kind: input.kind === 'backup' ? 'JOB_KIND_BACKUP' : 'JOB_KIND_RESTORE',
    mover: input.mover ?? 'MOVER_KIND_NATIVE',
    timeoutSeconds: input.timeoutSeconds ?? 0,
    volume: {
      namespace: 'shop',
      podName: 'db-0',
      podUid: input.podUid,
      volumeName: input.volumeName ?? 'data',
      kind: input.volumeKind ?? 'VOLUME_KIND_EMPTY_DIR',
      pvName: input.pvName ?? '',
      pvcUid: input.pvName ? `pvc-uid-${input.pvName}` : '',
      block: input.block ?? false,
    },
    repository: {
      location: input.repository,
      key: input.clusterKey ? { clusterKey: input.clusterKey } : { password: input.password ?? 'test-password' },
      initializeIfMissing: true,
    },
    ...(input.kind === 'backup' ? { backup: { parentSnapshotHint: '', excludes: [], tags: [] } } : {}),
    ...(input.kind === 'restore' ? { restore: { snapshotId: input.snapshotId ?? '', restoreUid: input.restoreUid ?? 'restore-1', include: '' } } : {}),
  };
}
