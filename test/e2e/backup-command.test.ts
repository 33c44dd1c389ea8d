/**
 * End to end: backup commands (annotation backup.ferry.dev/backup-command) through a real
 * coordinator process on the real kube-apiserver: the server proxies the coordinator's exec
 * to the fake kubelet's streaming port, which runs the command as a local process in the
 * pod's fake root and streams its stdout over the WebSocket; the coordinator pipes it into
 * a native repository on the local filesystem (a directory BackupLocation: the 2 GiB dump
 * would otherwise sit in the test RGW's memory store). Checked: the snapshot holds
 * `<pod>-<container>.<ext>` with the exact bytes (read back with `ferry dump`); a non-zero
 * exit and a connection cut mid-stream fail the volume and store no snapshot; a 2 GiB dump
 * goes through with the coordinator's peak RSS (VmHWM) bounded.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClusterState } from '../../packages/coordinator/src/cluster/kube-state.js';
import { nativePurgeMover } from '../../packages/coordinator/src/purge.js';
import { Repositories } from '../../packages/coordinator/src/repositories.js';
import { disposeOwnedCluster, startOwnedCluster, type Cr, type E2eCluster } from './cluster.fixture.js';
import { ROOT, waitFor } from './processes.fixture.js';

const NS = 'dumps';
const SYS = 'ferry-system';
const group = { group: 'ferry.dev', version: 'v1alpha1' };
const CLI_MAIN = join(ROOT, 'packages/cli/dist/main.js');
const BIG = 2 * 1024 ** 3;
const RSS_LIMIT_MIB = 600;

let cluster: E2eCluster;
/** Pods whose exec the fake kubelet cuts after this many stdout bytes. */
const cutAfter = new Map<string, number>();

const repoDir = () => join(cluster.o.root, 'repo', NS);

beforeAll(async () => {
  cluster = await startOwnedCluster({
    name: 'backup-cmd', nodes: ['node-a'], namespaces: [NS], prefix: 'cmd',
    execTarget: (r) => {
      const cut = cutAfter.get(r.pod);
      return cut !== undefined ? { cutStdoutAfterBytes: cut } : {};
    },
  });
  await cluster.custom.createClusterCustomObject({ ...group, plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { filesystem: { path: join(cluster.o.root, 'repo') } } } });
}, 120_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

const sh = (script: string) => JSON.stringify(['/bin/sh', '-c', script]);

/** A pod with containers `sidecar` and `postgres` (the backup command runs in `postgres`), once Running; returns its fake root. */
async function createPod(name: string, script: string): Promise<string> {
  const annotations = { 'backup.ferry.dev/backup-command': sh(script), 'backup.ferry.dev/backup-command-container': 'postgres', 'backup.ferry.dev/file-extension': 'sql' };
  await cluster.core.createNamespacedPod({ namespace: NS, body: { metadata: { name, labels: { dump: name }, annotations }, spec: { containers: [{ name: 'sidecar', image: 'x' }, { name: 'postgres', image: 'postgres:16' }] } } });
  const pod = await waitFor(async () => {
    const p = await cluster.core.readNamespacedPod({ namespace: NS, name });
    return p.status?.phase === 'Running' && p;
  }, 60_000, `pod ${NS}/${name} to run`);
  return cluster.rootDir(pod);
}

async function backup(name: string, pod: string, timeoutMs = 60_000): Promise<{ backup: Cr; pvb: Cr }> {
  await cluster.create('backups', { kind: 'Backup', metadata: { name }, spec: { location: 'local', labelSelector: { matchLabels: { dump: pod } } } }, NS);
  const b = await waitFor(async () => {
    const o = await cluster.get('backups', name, NS);
    return ['Completed', 'PartiallyFailed', 'Failed'].includes(o.status?.phase) && o;
  }, timeoutMs, `Backup ${name} to finish`);
  const pvbs = await cluster.list('podvolumebackups', NS, `ferry.dev/backup=${name}`);
  expect(pvbs).toHaveLength(1);
  return { backup: b, pvb: pvbs[0]! };
}

async function clusterKeyHex(): Promise<string> {
  const secret = await cluster.core.readNamespacedSecret({ namespace: SYS, name: 'ferry-cluster-key' });
  return Buffer.from(secret.data!['cluster-key']!, 'base64').toString('hex');
}

async function snapshotIds(): Promise<string[]> {
  const state = new KubeClusterState(cluster.kc);
  const access = await new Repositories({ cluster: state, namespace: SYS }).jobRepository(`local-${NS}`, { initialize: false });
  const m = nativePurgeMover({ repository: `local-${NS}`, mover: 'native', access });
  return (await m.mover.snapshots({})).map((s) => s.id).sort();
}

/** `ferry dump <snapshot> <file>` as a user would run it; returns the output's sha256 and size. */
async function ferryDump(snapshot: string, file: string): Promise<{ sha256: string; bytes: number }> {
  const child = spawn(process.execPath, [CLI_MAIN, '--repo', repoDir(), 'dump', snapshot, file], { env: { ...process.env, FERRY_CLUSTER_KEY: await clusterKeyHex() }, stdio: ['ignore', 'pipe', 'pipe'] });
  const hash = createHash('sha256');
  let bytes = 0;
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    hash.update(c);
    bytes += c.length;
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, stderr).toBe(0);
  return { sha256: hash.digest('hex'), bytes };
}

function vmHwmMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmHWM:\s+(\d+) kB/.exec(s)?.[1] ?? NaN) / 1024);
}

/** sha256 of a shell pipeline's stdout (the expected content of a generated dump). */
function shellSha256(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    const hash = createHash('sha256');
    child.stdout.on('data', (c: Buffer) => hash.update(c));
    child.on('error', reject);
    child.on('close', () => resolve(hash.digest('hex')));
  });
}

describe('backup commands end to end', () => {
  it('stores the command\'s stdout as <pod>-<container>.<ext> with the exact bytes', async () => {
    const content = Buffer.concat([Buffer.from('-- PostgreSQL database dump\n'), createHash('sha512').update('seed').digest(), Buffer.alloc(3_000_000, 7), Buffer.from([0, 255, 10])]);
    const rootDir = await createPod('pg-0', 'cat dump.bin; echo "dumped" >&2');
    await writeFile(join(rootDir, 'dump.bin'), content);
    const { backup: b, pvb } = await backup('ok', 'pg-0');
    expect(b.status?.phase, JSON.stringify(pvb.status)).toBe('Completed');
    expect(pvb.spec.volume).toEqual({ name: 'postgres', kind: 'command', command: { container: 'postgres', fileName: 'pg-0-postgres.sql' } });
    expect(pvb.status?.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(pvb.status?.progress).toMatchObject({ bytesDone: content.length, filesDone: 1 });
    const dumped = await ferryDump(pvb.status!.snapshotId, 'pg-0-postgres.sql');
    expect(dumped).toEqual({ sha256: createHash('sha256').update(content).digest('hex'), bytes: content.length });
  }, 90_000);

  it('a command that exits non-zero fails the volume with BackupCommandFailed and stores no snapshot', async () => {
    const before = await snapshotIds();
    await createPod('pg-exit', 'head -c 2000000 /dev/zero; echo "pg_dump: error: connection refused" >&2; exit 3');
    const { backup: b, pvb } = await backup('exit', 'pg-exit');
    expect(b.status?.phase).toBe('Failed');
    expect(pvb.status).toMatchObject({ phase: 'Failed', error: { code: 'BackupCommandFailed' } });
    expect(pvb.status?.error?.message).toMatch(/container postgres\) exited with code 3; stderr ends: pg_dump: error: connection refused; no snapshot was stored/);
    expect(pvb.status?.snapshotId).toBeUndefined();
    expect(await snapshotIds()).toEqual(before);
  }, 90_000);

  it('a stream cut mid-way (connection lost, no exit status) fails the volume and stores no snapshot', async () => {
    const before = await snapshotIds();
    cutAfter.set('pg-cut', 1_000_000);
    await createPod('pg-cut', 'head -c 5000000 /dev/zero');
    const { pvb } = await backup('cut', 'pg-cut');
    expect(pvb.status).toMatchObject({ phase: 'Failed', error: { code: 'BackupCommandFailed' } });
    expect(pvb.status?.error?.message).toMatch(/stream cut short: the exec stream closed without an exit status/);
    expect(await snapshotIds()).toEqual(before);
  }, 90_000);

  it('streams a 2 GiB dump with the coordinator\'s memory bounded', async () => {
    const pid = cluster.coordinator!.child.pid!;
    const baseline = await vmHwmMiB(pid);
    // AES-CTR over zeros: incompressible, deterministic, and faster than /dev/urandom.
    const generate = `openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null | head -c ${BIG}`;
    const expected = shellSha256(generate);
    await createPod('pg-big', generate);
    const started = Date.now();
    // Through the API server's exec proxy (two more TLS hops than the fake's direct exec): ~12 MiB/s on the loaded 2-core CI machine.
    const { backup: b, pvb } = await backup('big', 'pg-big', 420_000);
    const seconds = (Date.now() - started) / 1000;
    expect(b.status?.phase, JSON.stringify(pvb.status)).toBe('Completed');
    const peak = await vmHwmMiB(pid);
    console.log(`2 GiB backup command: ${seconds.toFixed(1)} s, ${(BIG / 1024 ** 2 / seconds).toFixed(0)} MiB/s; coordinator VmHWM ${baseline.toFixed(0)} MiB before, ${peak.toFixed(0)} MiB after (limit ${RSS_LIMIT_MIB} MiB)`);
    expect(peak).toBeLessThan(RSS_LIMIT_MIB);
    expect(pvb.status?.progress?.bytesDone).toBe(BIG);
    const dumped = await ferryDump(pvb.status!.snapshotId, 'pg-big-postgres.sql');
    expect(dumped).toEqual({ sha256: await expected, bytes: BIG });
  }, 480_000);
});
