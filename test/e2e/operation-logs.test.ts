/**
 * End to end: operation logs through the real `ferry` binary against a real coordinator
 * (real kube-apiserver, a real agent over mutual TLS). A Backup to a directory location
 * with one volume whose directory is gone ends PartiallyFailed; `ferry backup logs` prints
 * the agent's error for that volume, the phases and the end, from the gzip JSON-lines
 * object under ferry_logs/ at the location. A user of another namespace is refused (exit
 * 13). A Restore of it has its own log, removed with the Restore. Deleting the Backup removes its log (then exit 11).
 * A Backup to the run's RGW location (S3) has its log there too.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, ferry, type FerryRun } from '../../packages/cli/src/cli.fixture.js';
import { disposeOwnedCluster, fillVolume, startOwnedCluster, type Cr, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'shop';
const ALICE = 'alice-token-for-the-logs-e2e';
const BOB = 'bob-token-for-the-logs-e2e';

let cluster: E2eCluster;
let server = '';
let ca = '';
let locationDir = '';

function cli(args: readonly string[], token = ALICE): Promise<FerryRun> {
  return ferry([...args, '--server', server, '--ca', ca], { env: { FERRY_TOKEN: token } });
}

function expectOk(run: FerryRun): FerryRun {
  expect(run.exitCode, `stdout: ${run.out}\nstderr: ${run.stderr}`).toBe(0);
  return run;
}

/** Waits until the operation ended and its log condition is there. */
async function logged(plural: 'backups' | 'restores', name: string): Promise<Cr> {
  return waitFor(async () => {
    const o = await cluster.get(plural, name, NS);
    return o.status?.conditions?.some((c: { type: string }) => c.type === 'LogStored') && o;
  }, 120_000, `${plural} ${name} to store its log`);
}

beforeAll(async () => {
  await assertBuilt();
  const auth = {
    tokens: { [ALICE]: { username: 'alice', groups: [] }, [BOB]: { username: 'bob', groups: [] } },
    policy: [
      { users: ['alice'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'], namespaces: [NS] },
      { users: ['bob'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'], namespaces: ['other'] },
    ],
  };
  cluster = await startOwnedCluster({ name: 'oplogs', nodes: ['node-a'], namespaces: [NS, 'other'], prefix: 'oplogs', auth });
  server = `127.0.0.1:${cluster.ports.api}`;
  ca = join(cluster.o.root, 'certs', 'ca.crt');
  locationDir = join(cluster.o.root, 'locations', 'dir');
  await mkdir(locationDir, { recursive: true });
  await cluster.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'dir' }, spec: { filesystem: { path: locationDir } } } });
  await cluster.createStatefulSet(NS, 'db');
  const [pod] = await cluster.runningPods(NS, 1);
  await fillVolume(cluster.volumeDir(pod!, 'data'), 'logs-data', 100);
  // The agent finds no directory for this volume: it fails with VolumeNotFound, the other completes.
  await rm(cluster.volumeDir(pod!, 'cache'), { recursive: true, force: true });
  await waitFor(async () => (await cli(['backup', 'list', '-n', NS])).exitCode === 0, 60_000, 'the coordinator API to answer');
}, 240_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('ferry backup logs / ferry restore logs', () => {
  let backupUid = '';

  it('prints a PartiallyFailed backup\'s log with the failed volume\'s error reported by the agent', async () => {
    expectOk(await cli(['backup', 'create', 'b1', '-n', NS, '--location', 'dir']));
    const b = await logged('backups', 'b1');
    backupUid = b.metadata.uid ?? '';
    expect(b.status?.phase).toBe('PartiallyFailed');
    expect(b.status?.conditions.find((c: { type: string }) => c.type === 'LogStored')).toMatchObject({ status: 'True', reason: 'LogStored' });
    const out = expectOk(await cli(['backup', 'logs', 'b1', '-n', NS])).out;
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info {2}coordinator Backup shop\/b1 New → InProgress$/);
    expect(out).toMatch(/^\S+ error agent\/node-a \[shop\/db-0\/cache\] job \S+ failed: .+ \(VolumeNotFound\)$/m);
    expect(out).toMatch(/^\S+ info {2}agent\/node-a \[shop\/db-0\/data\] job \S+ running$/m);
    expect(out).toMatch(/^\S+ info {2}agent\/node-a \[shop\/db-0\/data\] job \S+ stored snapshot [0-9a-f]+: \d+ new, 0 changed, 0 unmodified files; \d+ bytes added$/m);
    expect(out).toMatch(/^\S+ error coordinator \[shop\/db-0\/cache\] volume Failed: VolumeNotFound: .+ \(VolumeNotFound\)$/m);
    expect(lines.at(-1)).toMatch(/ (warn |error) coordinator Backup shop\/b1 ended PartiallyFailed: .*VolumeNotFound/);
    // Filtered by level, and as JSON lines.
    const errors = expectOk(await cli(['backup', 'logs', 'b1', '-n', NS, '--level', 'error'])).out.trimEnd().split('\n');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((l) => / error /.test(l))).toBe(true);
    const json = expectOk(await cli(['backup', 'logs', 'b1', '-n', NS, '-o', 'json'])).out.trimEnd().split('\n').map((l) => JSON.parse(l) as { level: string; source: string; volume: string; code: string });
    expect(json).toContainEqual(expect.objectContaining({ level: 'error', source: 'agent/node-a', volume: 'shop/db-0/cache', code: 'VolumeNotFound' }));
    // Stored at the location as one gzip JSON-lines object, outside every repository.
    const stored = gunzipSync(await readFile(join(locationDir, 'ferry_logs', 'backup', NS, 'b1', `${backupUid}.jsonl.gz`))).toString('utf8').trimEnd().split('\n');
    expect(stored).toHaveLength(json.length);
  }, 180_000);

  it('refuses a user of another namespace (exit 13) without printing a line', async () => {
    const run = await cli(['backup', 'logs', 'b1', '-n', NS], BOB);
    expect(run.exitCode).toBe(13);
    expect(run.stderr).toMatch(/^ferry: permission denied: user bob may not get backups\.ferry\.dev in namespace shop; /);
    expect(run.out).toBe('');
  });

  it('prints a restore\'s log: the agent\'s restore lines and the end', async () => {
    const [pod] = await cluster.runningPods(NS, 1);
    await cluster.core.deleteNamespacedPod({ namespace: NS, name: pod!.metadata!.name! });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS })).items.length === 0, 30_000, 'the pod to be gone');
    await rm(join(cluster.o.root, 'pv-storage'), { recursive: true, force: true });
    expectOk(await cli(['restore', 'create', 'r1', '--from-backup', 'b1', '-n', NS]));
    await cluster.waitPhase('restores', 'r1', NS, ['InProgress'], 30_000);
    const early = await cli(['restore', 'logs', 'r1', '-n', NS]);
    expect(early.exitCode, early.stderr).not.toBe(0);
    expect(early.stderr).toMatch(/Restore shop\/r1 is InProgress: its log is written when it ends/);
    await cluster.createStatefulSet(NS, 'db');
    await cluster.runningPods(NS, 1);
    const r = await logged('restores', 'r1');
    const out = expectOk(await cli(['restore', 'logs', 'r1', '-n', NS])).out;
    expect(out).toMatch(/^\S+ info {2}agent\/node-a \[shop\/db-0\/data\] job \S+ restored \d+ files, \d+ bytes$/m);
    expect(out.trimEnd().split('\n').at(-1)).toContain(`coordinator Restore shop/r1 ended ${r.status?.phase}`);
    const file = join(locationDir, 'ferry_logs', 'restore', NS, 'r1', `${r.metadata.uid}.jsonl.gz`);
    await stat(file);
    // Deleting the Restore removes its log.
    await cluster.custom.deleteNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: NS, plural: 'restores', name: 'r1' });
    await waitFor(async () => stat(file).then(() => false, () => true), 60_000, 'the restore log to be removed');
    expect((await cli(['restore', 'logs', 'r1', '-n', NS])).exitCode).toBe(11);
  }, 180_000);

  it('removes the log with the Backup; asking for it then exits 11', async () => {
    const file = join(locationDir, 'ferry_logs', 'backup', NS, 'b1', `${backupUid}.jsonl.gz`);
    await stat(file);
    expectOk(await cli(['backup', 'delete', 'b1', '-n', NS]));
    await waitFor(async () => (await cli(['backup', 'describe', 'b1', '-n', NS])).exitCode === 11, 60_000, 'backup b1 to be gone');
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    expect(await readdir(join(locationDir, 'ferry_logs', 'backup', NS, 'b1')).catch(() => [])).toEqual([]);
    const run = await cli(['backup', 'logs', 'b1', '-n', NS]);
    expect(run.exitCode).toBe(11);
    expect(run.stderr).toMatch(/Backup shop\/b1 not found/);
  }, 120_000);

  it('keeps the log of a backup to the S3 location in the bucket', async () => {
    expectOk(await cli(['backup', 'create', 'b-rgw', '-n', NS, '--location', 'rgw', '--volume', 'db-0:data']));
    const b = await logged('backups', 'b-rgw');
    expect(b.status?.phase).toBe('Completed');
    const out = expectOk(await cli(['backup', 'logs', 'b-rgw', '-n', NS])).out;
    expect(out).toMatch(/ info {2}coordinator Backup shop\/b-rgw ended Completed/);
    expect(b.status?.conditions.find((c: { type: string }) => c.type === 'LogStored')?.message).toContain(`BackupLocation rgw as ferry_logs/backup/shop/b-rgw/${b.metadata.uid}.jsonl.gz`);
  }, 180_000);
});
