// Standalone mode end to end: a coordinator process over LocalClusterState and a real agent
// (mTLS). What the demo does not show: the state directory survives a SIGKILL of the
// coordinator mid-backup (the backup still completes, once), bad manifests are reported
// and skipped, and a Backup whose spec breaks the CRD schema never enters the state.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { AGENT_MAIN, COORDINATOR_MAIN, ROOT, freePort, makeHubCerts, RESTORE_WAIT_MAIN, startNode, stopProc, waitFor, type HubCerts, type Proc } from './processes.fixture.js';

const NODE = 'solo';
const CLI_MAIN = join(ROOT, 'packages/cli/dist/main.js');
let root: string;
let certs: HubCerts;
let hubPort = 0;
let coordinator: Proc | undefined;
let agent: Proc | undefined;

interface Obj {
  metadata: { name: string; uid: string; resourceVersion: string };
  spec: Record<string, any>;
  status?: Record<string, any>;
}

const dir = (name: string) => join(root, name);

async function readObject(kind: string, ns: string, name: string): Promise<Obj | undefined> {
  try {
    return JSON.parse(await readFile(join(dir('state'), 'objects', kind, ns, `${name}.json`), 'utf8')) as Obj;
  } catch {
    return undefined;
  }
}

async function listObjects(kind: string, ns: string): Promise<Obj[]> {
  const d = join(dir('state'), 'objects', kind, ns);
  if (!existsSync(d)) return [];
  return Promise.all((await readdir(d)).filter((f) => f.endsWith('.json')).map(async (f) => JSON.parse(await readFile(join(d, f), 'utf8')) as Obj));
}

function startCoordinator(): Proc {
  return startNode(COORDINATOR_MAIN, ['--standalone', '--state-dir', dir('state'), '--manifests-dir', dir('manifests'), '--pods-dir', dir('pods'), '--node-name', NODE,
    '--listen', '127.0.0.1:0', '--hub-listen', `127.0.0.1:${hubPort}`, '--tls-ca', certs.ca, '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey,
    '--api-listen', 'off', '--progress-interval', '500ms', '--agent-lost-timeout', '30s', '--restore-wait-command', `${process.execPath},${RESTORE_WAIT_MAIN}`, '--log-level', 'debug'], dir('coordinator.log'));
}

const manifest = (name: string, doc: object) => writeFile(join(dir('manifests'), `${name}.yaml`), JSON.stringify(doc));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-standalone-'));
  for (const d of ['manifests', 'pods', 'tls']) await mkdir(dir(d));
  certs = makeHubCerts(dir('tls'), [NODE]);
  hubPort = await freePort();
  await manifest('location', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: dir('repository') } } });
  await manifest('pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db', namespace: 'shop', annotations: { 'backup.ferry.dev/backup-volumes': 'data' } }, spec: { containers: [{ name: 'pg', image: 'postgres' }], volumes: [{ name: 'data', emptyDir: {} }] } });
  coordinator = startCoordinator();
  const c = certs.client(NODE);
  agent = startNode(AGENT_MAIN, ['--node-name', NODE, '--coordinator', `localhost:${hubPort}`, '--pods-dir', dir('pods'), '--tls-ca', certs.ca, '--tls-cert', c.cert, '--tls-key', c.key,
    '--cache-dir', dir('cache'), '--listen', '127.0.0.1:0', '--heartbeat-interval', '1s', '--native-workers', '1'], dir('agent.log'));
}, 60_000);

afterAll(async () => {
  await stopProc(coordinator);
  await stopProc(agent);
  await rm(root, { recursive: true, force: true });
});

describe('standalone coordinator (LocalClusterState) with a real agent', () => {
  it('finishes a backup exactly once when the coordinator is SIGKILLed mid-backup and restarted on the same state directory', async () => {
    const pod = await waitFor(async () => ((await readObject('Pod', 'shop', 'db'))?.status?.['phase'] === 'Running' ? readObject('Pod', 'shop', 'db') : undefined), 30_000, 'pod db running');
    const volume = join(dir('pods'), pod!.metadata.uid, 'volumes', 'kubernetes.io~empty-dir', 'data');
    for (let i = 0; i < 6; i++) await writeFile(join(volume, `table-${i}.dat`), randomBytes(48 << 20));
    await manifest('backup', { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'crash', namespace: 'shop' }, spec: {} });
    await waitFor(async () => (await listObjects('PodVolumeBackup', 'shop')).some((p) => p.status?.['phase'] === 'InProgress'), 60_000, 'the volume to be running');
    coordinator!.child.kill('SIGKILL');
    await coordinator!.exited;
    coordinator = startCoordinator();
    const done = await waitFor(async () => {
      const b = await readObject('Backup', 'shop', 'crash');
      return ['Completed', 'Failed', 'PartiallyFailed'].includes(b?.status?.['phase']) ? b : undefined;
    }, 120_000, 'the backup to finish after the restart');
    expect(done!.status?.['phase'], await readFile(dir('coordinator.log'), 'utf8').then((l) => l.slice(-4000))).toBe('Completed');
    const pvbs = await listObjects('PodVolumeBackup', 'shop');
    expect(pvbs).toHaveLength(1);
    expect(pvbs[0]!.status?.['snapshotId']).toMatch(/^[0-9a-f]{64}$/);
    expect(pvbs[0]!.status?.['progress']?.totalBytes).toBe(6 * (48 << 20));
  }, 180_000);

  it('runs a backup command as a local process in the pod directory and stores its stdout; ferry dump reads it back', async () => {
    const script = `awk 'BEGIN { for (i = 0; i < 50000; i++) printf "row %d\\n", i }'`;
    await manifest('pod-dump', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dumper', namespace: 'shop', labels: { app: 'dumper' }, annotations: { 'backup.ferry.dev/backup-command': JSON.stringify(['/bin/sh', '-c', script]), 'backup.ferry.dev/backup-command-container': 'pg', 'backup.ferry.dev/file-extension': 'txt' } }, spec: { containers: [{ name: 'pg', image: 'postgres' }] } });
    await waitFor(async () => (await readObject('Pod', 'shop', 'dumper'))?.status?.['phase'] === 'Running', 30_000, 'pod dumper running');
    await manifest('backup-dump', { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'dump', namespace: 'shop' }, spec: { labelSelector: { matchLabels: { app: 'dumper' } } } });
    const done = await waitFor(async () => {
      const b = await readObject('Backup', 'shop', 'dump');
      return ['Completed', 'Failed', 'PartiallyFailed'].includes(b?.status?.['phase']) ? b : undefined;
    }, 60_000, 'the dump backup to finish');
    expect(done!.status?.['phase'], JSON.stringify(done!.status)).toBe('Completed');
    const pvb = (await listObjects('PodVolumeBackup', 'shop')).find((p) => p.spec['backup'] === 'dump')!;
    expect(pvb.spec['volume']).toMatchObject({ kind: 'command', command: { container: 'pg', fileName: 'dumper-pg.txt' } });
    const key = JSON.parse(await readFile(join(dir('state'), 'objects', 'Secret', 'ferry-system', 'ferry-cluster-key.json'), 'utf8')) as { data: Record<string, string> };
    const out = execFileSync(process.execPath, [CLI_MAIN, '--repo', join(dir('repository'), 'shop'), 'dump', pvb.status?.['snapshotId'], 'dumper-pg.txt'], { env: { ...process.env, FERRY_CLUSTER_KEY: Buffer.from(key.data['cluster-key']!, 'base64').toString('hex') }, maxBuffer: 64 << 20 });
    const expected = Array.from({ length: 50_000 }, (_, i) => `row ${i}\n`).join('');
    expect(out.toString()).toBe(expected);
  }, 90_000);

  it('reports a malformed manifest and a Backup that breaks the CRD schema, and keeps running', async () => {
    await writeFile(join(dir('manifests'), 'broken.yaml'), 'kind: Backup\nmetadata: {name: [\n');
    await manifest('invalid', { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'invalid', namespace: 'shop' }, spec: { volumeTimeout: 'whenever' } });
    const log = await waitFor(async () => {
      const text = await readFile(dir('coordinator.log'), 'utf8');
      return text.includes('manifest skipped') && text.includes('Backup shop/invalid is invalid: spec.volumeTimeout') ? text : undefined;
    }, 15_000, 'both problems in the log');
    expect(log).toMatch(/broken\.yaml/);
    expect(await readObject('Backup', 'shop', 'invalid')).toBeUndefined();
    expect(coordinator!.child.exitCode).toBeNull();
  }, 30_000);
});
