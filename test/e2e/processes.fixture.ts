/**
 * Test support for the end-to-end test (not product): mTLS certificates made with the
 * openssl CLI, free ports, real coordinator and agent processes from the built dist/,
 * and a restore-wait runner for the fake kubelet that maps container mount paths to the
 * fake node's volume directories.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InitContainerRunner } from '../fake-cluster/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const COORDINATOR_MAIN = join(ROOT, 'packages/coordinator/dist/main.js');
export const AGENT_MAIN = join(ROOT, 'packages/agent/dist/main.js');
export const RESTORE_WAIT_MAIN = join(ROOT, 'packages/agent/dist/restore-wait/main.js');

export interface HubCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  client(node: string): { cert: string; key: string };
}

export function makeHubCerts(dir: string, nodes: readonly string[]): HubCerts {
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ferry-e2e-ca']);
  const leaf = (name: string, cn: string, ext: string): void => {
    run(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    execFileSync('sh', ['-c', `printf '%s\\n' "${ext}" > ${name}.ext`], { cwd: dir });
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  leaf('server', 'ferry-coordinator', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  for (const n of nodes) leaf(`agent-${n}`, n, 'extendedKeyUsage=clientAuth');
  return {
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    client: (node) => ({ cert: join(dir, `agent-${node}.crt`), key: join(dir, `agent-${node}.key`) }),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface CoordinatorArgsOptions {
  readonly kubeconfigFile: string;
  readonly namespace: string;
  readonly hubPort: number;
  /** AgentHub mutual TLS; absent: --insecure (a test without agents). */
  readonly certs?: HubCerts;
  /** The restore webhook's port and serving certificate directory (tls.crt, tls.key); absent: off. */
  readonly webhook?: { readonly port: number; readonly dir: string };
  readonly extra?: readonly string[];
}

/** The flags every end-to-end coordinator runs with: short leases and waits, debug logs. */
export function coordinatorArgs(o: CoordinatorArgsOptions): string[] {
  return [
    '--kubeconfig', o.kubeconfigFile, '--namespace', o.namespace, '--listen', '127.0.0.1:0', '--hub-listen', `127.0.0.1:${o.hubPort}`,
    ...(o.certs ? ['--tls-ca', o.certs.ca, '--tls-cert', o.certs.serverCert, '--tls-key', o.certs.serverKey] : ['--insecure']),
    ...(o.webhook ? ['--webhook-listen', `127.0.0.1:${o.webhook.port}`, '--webhook-cert', join(o.webhook.dir, 'tls.crt'), '--webhook-key', join(o.webhook.dir, 'tls.key')] : ['--webhook-listen', 'off']),
    '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms',
    '--agent-wait', '20s', '--agent-lost-timeout', '4s', '--progress-interval', '1s', '--max-attempts', '1',
    '--restore-wait-image', 'ferry-agent:e2e', '--restore-wait-command', 'ferry-restore-wait', '--log-level', 'debug',
    // The API's default 0.0.0.0:9444 would collide between test files running at once; `extra` may set a port (the last flag wins).
    '--api-listen', 'off',
    ...(o.extra ?? []),
  ];
}

export interface Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

/** Starts `node <main> <args>`, logging to `logFile`. */
export function startNode(main: string, args: readonly string[], logFile: string): Proc {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited };
}

export async function stopProc(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(timer);
}

/** The fake kubelet runs restore-wait as a real process; its path arguments are container mount paths, mapped here. */
export const restoreWaitRunner: InitContainerRunner = (r) => {
  const args = (r.container.args ?? []).map((a) => r.mounts[a] ?? a);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RESTORE_WAIT_MAIN, ...args, '--poll-interval', '100ms', '--termination-log', join(r.podDir, 'termination-log')], { stdio: ['ignore', 'ignore', 'pipe'], signal: r.signal });
    let tail = '';
    child.stderr!.on('data', (c: Buffer) => (tail = (tail + c.toString()).slice(-1024)));
    child.on('error', (err) => resolve({ exitCode: 128, message: err.message }));
    child.on('close', (code) => resolve({ exitCode: code ?? 137, ...(tail ? { message: tail } : {}) }));
  });
};

export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
