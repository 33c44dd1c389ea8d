/**
 * Test support (not product): a real Kubernetes control plane for the cluster tiers of the
 * tests. etcd (Debian's etcd-server) and the kube-apiserver and kube-controller-manager that
 * test/kube/build.sh builds from k8s.io/kubernetes, on free loopback ports, with certificates
 * made for this run: a CA that signs the serving certificate and the client certificates, a
 * service-account signing key, and a static token file for the test's users. Authorization
 * is RBAC, admission is the release's default plugin set (ServiceAccount, PodSecurity,
 * NamespaceLifecycle, the webhooks...), so what the server accepts here a cluster accepts.
 *
 * The controller manager runs only the controllers a test cluster needs and that nothing
 * else would do: the garbage collector (ownerReferences), namespace deletion, the default
 * ServiceAccount per namespace, and PVC/PV protection. Workload controllers stay off: the
 * tests create pods the way those controllers would (test/fake-cluster/workloads.ts).
 *
 * One control plane per test file (start ~3-6 s); stop() ends every process by PID and
 * removes the etcd data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { freePort } from '../e2e/processes.fixture.js';
import type { KubeletTls } from '../fake-cluster/kubelet-streaming.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** A user the static token file authenticates. */
export interface TokenUser {
  readonly username: string;
  readonly groups?: readonly string[];
}

export interface ControlPlaneOptions {
  /** A directory of its own (certificates, logs); etcd's data goes to /dev/shm when it exists. */
  readonly root: string;
  /** Bearer token → user, for the static token file (authentication only; RBAC decides). */
  readonly tokens?: Readonly<Record<string, TokenUser>>;
  /** Run kube-controller-manager (default true). */
  readonly controllerManager?: boolean;
  /** More kube-apiserver flags. */
  readonly apiServerArgs?: readonly string[];
  /** More etcd flags. */
  readonly etcdArgs?: readonly string[];
}

/** One audit log entry, flattened. */
export interface AuditEvent {
  readonly stage: string;
  readonly user: string;
  readonly verb: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly subresource: string;
  readonly namespace: string;
  readonly name: string;
  readonly requestURI: string;
  /** The HTTP answer (0 before the response started). */
  readonly code: number;
  readonly time: number;
}

function auditEventOf(line: string): AuditEvent {
  const e = JSON.parse(line) as { stage?: string; user?: { username?: string }; verb?: string; requestURI?: string; stageTimestamp?: string; responseStatus?: { code?: number }; objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string } };
  const r = e.objectRef ?? {};
  return {
    stage: e.stage ?? '', user: e.user?.username ?? '', verb: e.verb ?? '', apiGroup: r.apiGroup ?? '', resource: r.resource ?? '', subresource: r.subresource ?? '',
    namespace: r.namespace ?? '', name: r.name ?? '', requestURI: e.requestURI ?? '', code: e.responseStatus?.code ?? 0, time: Date.parse(e.stageTimestamp ?? '') || 0,
  };
}

interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

/** Where build.sh puts the binaries of the release test/kube/build/go.mod pins. */
export function kubeBinDir(): string {
  const mod = readFileSync(join(HERE, 'build', 'go.mod'), 'utf8');
  const version = /^require k8s\.io\/kubernetes (\S+)$/m.exec(mod)?.[1];
  if (!version) throw new Error('test/kube/build/go.mod names no k8s.io/kubernetes version');
  return join(HERE, '.bin', version);
}

function binary(name: string): string {
  const path = join(kubeBinDir(), name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run test/kube/build.sh (npm test does) to build the real ${name} from the Go module proxy`);
  return path;
}

/** The run's PKI, made with the openssl CLI (EC keys: ~20 ms each). */
function makePki(dir: string): void {
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ferry-test-kubernetes-ca']);
  const leaf = (name: string, subject: string, ext: string): void => {
    run(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    execFileSync('sh', ['-c', `printf '%b' "${ext}" > ${name}.ext`], { cwd: dir });
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  leaf('apiserver', '/CN=kube-apiserver', 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:kubernetes.default.svc\\nextendedKeyUsage=serverAuth');
  leaf('admin', '/O=system:masters/CN=ferry-test-admin', 'extendedKeyUsage=clientAuth');
  // The fake kubelets' streaming servers (exec), verified by the API server with --kubelet-certificate-authority.
  leaf('kubelet', '/CN=ferry-test-kubelet', 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth');
  leaf('kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'extendedKeyUsage=clientAuth');
  run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key']);
  run(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

function tokenFile(tokens: Readonly<Record<string, TokenUser>>): string {
  return Object.entries(tokens).map(([token, u], i) => `${token},${u.username},test-user-${i},"${(u.groups ?? []).join(',')}"`).join('\n') + '\n';
}

function startDaemon(name: string, bin: string, args: readonly string[], logFile: string): Daemon {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { name, child, exited };
}

async function stopDaemon(d: Daemon): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  const timer = setTimeout(() => d.child.kill('SIGKILL'), 5_000);
  await d.exited;
  clearTimeout(timer);
}

export class ControlPlane {
  private constructor(
    readonly url: string,
    readonly caPem: string,
    private readonly pki: string,
    private readonly daemons: Daemon[],
    private readonly etcdData: string,
    /** etcd's client URL (plain HTTP on loopback), for tests that act on storage directly. */
    readonly etcdUrl: string,
    readonly logDir: string,
    readonly startupMs: number,
  ) {}

  static async start(o: ControlPlaneOptions): Promise<ControlPlane> {
    const t0 = Date.now();
    const pki = join(o.root, 'kube-pki');
    const logDir = join(o.root, 'kube-logs');
    await mkdir(pki, { recursive: true });
    await mkdir(logDir, { recursive: true });
    makePki(pki);
    await writeFile(join(pki, 'tokens.csv'), tokenFile(o.tokens ?? {}), { mode: 0o600 });
    // Metadata-level audit of every request: who did what and the answer code, so a 403 that the
    // product swallowed still shows (kube-logs/audit.log; ControlPlane.forbidden() reads it).
    await writeFile(join(pki, 'audit-policy.yaml'), 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n');
    const etcdData = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : o.root, 'ferry-etcd-'));
    const daemons: Daemon[] = [];
    try {
      const etcdUrl = await startEtcd(etcdData, logDir, daemons, o.etcdArgs ?? []);
      const port = await freePort();
      const audit = [`--audit-policy-file=${join(pki, 'audit-policy.yaml')}`, `--audit-log-path=${join(logDir, 'audit.log')}`, '--audit-log-mode=blocking'];
      daemons.push(startDaemon('kube-apiserver', binary('kube-apiserver'), apiServerArgs({ pki, port, etcdUrl, extra: [...audit, ...(o.apiServerArgs ?? [])] }), join(logDir, 'kube-apiserver.log')));
      const url = `https://127.0.0.1:${port}`;
      const caPem = await readFile(join(pki, 'ca.crt'), 'utf8');
      const cp = new ControlPlane(url, caPem, pki, daemons, etcdData, etcdUrl, logDir, 0);
      await cp.waitReady(daemons, 90_000);
      if (o.controllerManager !== false) await cp.startControllerManager(daemons);
      return Object.assign(cp, { startupMs: Date.now() - t0 }) as ControlPlane;
    } catch (err) {
      for (const d of daemons.reverse()) await stopDaemon(d);
      await rm(etcdData, { recursive: true, force: true });
      throw err;
    }
  }

  /** A cluster-admin (system:masters) client-certificate kubeconfig. */
  adminKubeConfig(): KubeConfig {
    return this.kubeConfig({ name: 'admin', user: { name: 'admin', certFile: join(this.pki, 'admin.crt'), keyFile: join(this.pki, 'admin.key') } });
  }

  /** The serving certificate a fake kubelet's streaming server presents, and the CA of the API server's client certificate. */
  kubeletTls(): KubeletTls {
    return { certFile: join(this.pki, 'kubelet.crt'), keyFile: join(this.pki, 'kubelet.key'), clientCaFile: join(this.pki, 'ca.crt') };
  }

  /** A kubeconfig that authenticates with a bearer token (a static token or a ServiceAccount token). */
  tokenKubeConfig(token: string, name = 'token-user', server = this.url): KubeConfig {
    return this.kubeConfig({ name, user: { name, token }, server });
  }

  /**
   * Compacts etcd up to its current revision (physically), as the API server's periodic
   * compaction would later: a watch from an older resourceVersion then gets 410 Gone.
   * Returns the revision compacted to (resourceVersions are etcd revisions).
   */
  async compactEtcd(): Promise<number> {
    const post = async (path: string, body: unknown): Promise<{ header?: { revision?: string } }> => {
      const r = await fetch(`${this.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
      if (!r.ok) throw new Error(`etcd ${path}: HTTP ${r.status}: ${(await r.text()).slice(0, 300)}`);
      return (await r.json()) as { header?: { revision?: string } };
    };
    const revision = Number((await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') })).header?.revision);
    if (!Number.isSafeInteger(revision) || revision <= 0) throw new Error(`etcd at ${this.etcdUrl} reported no revision`);
    await post('/v3/kv/compaction', { revision: String(revision), physical: true });
    return revision;
  }

  /** A token for a ServiceAccount through the TokenRequest API, as a projected token volume gets one. */
  async serviceAccountToken(namespace: string, name: string, expirationSeconds = 3600): Promise<string> {
    const core = this.adminKubeConfig().makeApiClient(CoreV1Api);
    const r = await core.createNamespacedServiceAccountToken({ namespace, name, body: { spec: { audiences: [], expirationSeconds } } });
    return r.status!.token;
  }

  /** Every request the API server audited so far (Metadata level, one entry per stage). */
  async auditEvents(): Promise<AuditEvent[]> {
    const text = await readFile(join(this.logDir, 'audit.log'), 'utf8').catch(() => '');
    return text.split('\n').filter((line) => line.trim() !== '').map(auditEventOf);
  }

  /** Requests the server refused with 403, from the audit log: `user verb resource[/sub] namespace`. */
  async forbidden(usernamePrefix = ''): Promise<string[]> {
    const out: string[] = [];
    for (const e of await this.auditEvents()) {
      if (e.code !== 403 || !e.user.startsWith(usernamePrefix)) continue;
      out.push(`${e.user} ${e.verb} ${e.apiGroup ? `${e.apiGroup}/` : ''}${e.resource}${e.subresource ? `/${e.subresource}` : ''} ${e.namespace}`.trim());
    }
    return [...new Set(out)];
  }

  /** Whether every process still runs (a test that kills none expects true). */
  get healthy(): boolean {
    return this.daemons.every((d) => d.child.exitCode === null && d.child.signalCode === null);
  }

  async stop(): Promise<void> {
    for (const d of [...this.daemons].reverse()) await stopDaemon(d);
    await rm(this.etcdData, { recursive: true, force: true });
  }

  private kubeConfig(o: { name: string; user: { name: string; token?: string; certFile?: string; keyFile?: string }; server?: string }): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'ferry-test', server: o.server ?? this.url, caData: Buffer.from(this.caPem).toString('base64') }],
      users: [o.user],
      contexts: [{ name: o.name, cluster: 'ferry-test', user: o.user.name }],
      currentContext: o.name,
    });
    return kc;
  }

  private async waitReady(daemons: Daemon[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const dead = daemons.find((d) => d.child.exitCode !== null || d.child.signalCode !== null);
      if (dead) throw new Error(`${dead.name} exited during start-up; its log: ${join(this.logDir, `${dead.name}.log`)}`);
      last = await this.readyz().catch((e: Error) => e.message);
      if (last === 'ok') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`kube-apiserver not ready after ${timeoutMs} ms (last /readyz: ${last.slice(0, 300)}); logs in ${this.logDir}`);
  }

  private readyz(): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(`${this.url}/readyz`, { ca: this.caPem, cert: readFileSync(join(this.pki, 'admin.crt')), key: readFileSync(join(this.pki, 'admin.key')), timeout: 2_000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `${res.statusCode}: ${body}`));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  private async startControllerManager(daemons: Daemon[]): Promise<void> {
    const kubeconfig = join(this.pki, 'admin.kubeconfig');
    await writeFile(kubeconfig, this.adminKubeConfig().exportConfig(), { mode: 0o600 });
    const args = [
      `--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--secure-port=0',
      '--controllers=garbagecollector,namespace,serviceaccount,pvc-protection,pv-protection',
      `--service-account-private-key-file=${join(this.pki, 'sa.key')}`, `--root-ca-file=${join(this.pki, 'ca.crt')}`,
      '--concurrent-gc-syncs=5', '--namespace-sync-period=10s', '--v=1',
    ];
    daemons.push(startDaemon('kube-controller-manager', binary('kube-controller-manager'), args, join(this.logDir, 'kube-controller-manager.log')));
  }
}

async function startEtcd(dataDir: string, logDir: string, daemons: Daemon[], extra: readonly string[]): Promise<string> {
  const [client, peer] = [await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${client}`;
  const args = [
    '--name', 'default', '--data-dir', dataDir,
    '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--logger', 'zap', '--log-level', 'warn',
    '--quota-backend-bytes', String(2 * 1024 ** 3),
    ...extra,
  ];
  daemons.push(startDaemon('etcd', '/usr/bin/etcd', args, join(logDir, 'etcd.log')));
  return etcdUrl;
}

function apiServerArgs(o: { pki: string; port: number; etcdUrl: string; extra: readonly string[] }): string[] {
  const p = (f: string) => join(o.pki, f);
  return [
    `--etcd-servers=${o.etcdUrl}`, `--secure-port=${o.port}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
    // No Service network here: the kubernetes Service's endpoints would be a loopback address, which the API refuses.
    '--endpoint-reconciler-type=none', '--service-cluster-ip-range=10.96.0.0/24',
    `--client-ca-file=${p('ca.crt')}`, `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
    `--token-auth-file=${p('tokens.csv')}`, '--authorization-mode=RBAC', '--anonymous-auth=false',
    `--kubelet-client-certificate=${p('kubelet-client.crt')}`, `--kubelet-certificate-authority=${p('ca.crt')}`, `--kubelet-client-key=${p('kubelet-client.key')}`, '--kubelet-preferred-address-types=InternalIP',
    '--allow-privileged=true', '--profiling=false', '--v=1',
    ...o.extra,
  ];
}
