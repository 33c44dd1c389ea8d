/**
 * Operation logs on the fake API server with real directory locations: lines recorded
 * through commit() and the agent-result path, the log stored once the Backup ended
 * (condition LogStored) and read back; a coordinator that did not see the start says so
 * and still has every volume's outcome; ReadOnly and unreachable locations never change
 * the operation's phase; the Backup's deletion removes its log; the sweep removes logs of
 * operations that are gone. Then the API: lines streamed to a tenant of the namespace,
 * PERMISSION_DENIED for another, FAILED_PRECONDITION while running, NOT_FOUND, UNAVAILABLE.
 */
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { JobResult__Output, OperationLogChunk__Output } from '@ferry/api';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { testContext } from '../context.fixture.js';
import type { ControllerContext } from '../context.js';
import { ManualClock } from '../clock.js';
import { reconcileBackup } from '../controllers/backup.js';
import { commit } from '../controllers/commit.js';
import type { BackupObject, PvbObject, PvrObject, RestoreObject } from '../objects.js';
import { reconcileRestore } from '../controllers/restore.js';
import { bearer, loadClientProtos, makeApiCerts, startApi, tlsCredentials, type RunningApi } from '../api/api.fixture.js';
import { OperationLogBook, type OperationLogLine } from './book.js';
import { decodeLog, logKey } from './format.js';
import { recordJobResult } from './record.js';
import { sweepLogs } from './store.js';

let api: FakeApiServer;
let core: CoreV1Api;
let root: string;
const group = { group: 'ferry.dev', version: 'v1alpha1' };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-oplogs-'));
  api = await FakeApiServer.start({
    namespaces: ['ferry-system', 'shop', 'other'],
    tokens: { 'token-alice': { username: 'alice', groups: [] }, 'token-bob': { username: 'bob', groups: [] } },
    policy: [
      { users: ['alice'], verbs: ['get'], apiGroups: ['ferry.dev'], resources: ['backups', 'restores'], namespaces: ['shop'] },
      { users: ['bob'], verbs: ['get'], apiGroups: ['ferry.dev'], resources: ['backups', 'restores'], namespaces: ['other'] },
    ],
  });
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  const { kube } = testContext(api.kubeConfig());
  await writeFile(join(root, 'not-a-directory'), 'x');
  const locations = [
    { name: 'dir', spec: { default: true, filesystem: { path: join(root, 'dir') } } },
    { name: 'readonly', spec: { accessMode: 'ReadOnly', filesystem: { path: join(root, 'readonly') } } },
    { name: 'broken', spec: { filesystem: { path: join(root, 'not-a-directory') } } },
    // Nothing listens on port 9 of loopback: every request is refused.
    { name: 's3down', spec: { s3: { bucket: 'logs', endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true } } },
  ];
  for (const l of locations) await kube.custom.createClusterCustomObject({ ...group, plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: l.name }, spec: l.spec } });
  await mkdir(join(root, 'dir'), { recursive: true });
});

afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

function context(clock = new ManualClock()): { ctx: ControllerContext; clock: ManualClock } {
  const t = testContext(api.kubeConfig(), clock);
  return { ctx: { ...t.ctx, operationLogs: new OperationLogBook(clock) }, clock };
}

/** A Backup (finalizer set) with one PodVolumeBackup owned by it, both New. */
async function newBackup(ctx: ControllerContext, name: string, location: string): Promise<{ backup: BackupObject; pvb: PvbObject }> {
  const backup = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name, namespace: 'shop', finalizers: ['ferry.dev/backup-cleanup'] }, spec: { location } });
  const pvb = await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', {
    metadata: { name: `${name}-0`, namespace: 'shop', labels: { 'ferry.dev/backup': name }, ownerReferences: [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', name, uid: backup.metadata.uid ?? '', controller: true }] },
    spec: { backup: name, pod: { namespace: 'shop', name: 'db-0', uid: 'pod-uid' }, node: 'node-a', volume: { name: 'data', kind: 'emptyDir' }, repository: `${location}-shop`, mover: 'native' },
  });
  return { backup, pvb };
}

const agentFailure: JobResult__Output = {
  jobId: 'job-1', kind: 'JOB_KIND_BACKUP', outcome: 'error', error: { code: 'ERROR_CODE_VOLUME_NOT_FOUND', message: 'volume data of pod shop/db-0 is not under the pods dir', retriable: false },
  fileErrors: [{ path: '/d0/f1', message: 'EACCES' }], fileErrorsTotal: 3, startedAtUnixMs: '0', finishedAtUnixMs: '0', mover: 'MOVER_KIND_NATIVE',
} as unknown as JobResult__Output;

/** Runs a Backup through InProgress to Failed with a failed volume, the way the controllers commit it. */
async function runToFailed(ctx: ControllerContext, name: string, location: string, observe = true): Promise<BackupObject> {
  const { backup, pvb } = await newBackup(ctx, name, location);
  // Not observed: the status is written as by an earlier coordinator, so this one's book never began.
  if (observe) await commit(ctx, 'Backup', backup, { status: { phase: 'InProgress', location } });
  else await ctx.cluster.replaceStatus('Backup', backup, { phase: 'InProgress', location });
  const running = await commit(ctx, 'PodVolumeBackup', pvb, { status: { phase: 'InProgress' } });
  recordJobResult(ctx, 'PodVolumeBackup', running, 'node-a', agentFailure);
  await commit(ctx, 'PodVolumeBackup', running, { status: { phase: 'Failed', error: { code: 'VolumeNotFound', message: 'volume data of pod shop/db-0 is not under the pods dir' } }, events: [{ involved: { apiVersion: 'ferry.dev/v1alpha1', kind: 'PodVolumeBackup', name: pvb.metadata.name ?? '', namespace: 'shop', uid: pvb.metadata.uid ?? '' }, type: 'Warning', reason: 'VolumeNotFound', message: 'the volume failed' }] });
  const fresh = (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!;
  await commit(ctx, 'Backup', fresh, { status: { ...fresh.status, phase: 'Failed', completionTimestamp: new Date(ctx.clock.now()).toISOString(), error: { code: 'VolumeNotFound', message: 'db-0/data failed' } } });
  return (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!;
}

/** One terminal reconcile and its status write; the stored Backup after it. */
async function settle(ctx: ControllerContext, name: string): Promise<{ backup: BackupObject; requeueAfterMs?: number }> {
  const b = (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!;
  const decision = await reconcileBackup(ctx, b);
  await commit(ctx, 'Backup', b, decision);
  return { backup: (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!, ...(decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {}) };
}

async function storedLines(backup: BackupObject, dir = join(root, 'dir')): Promise<OperationLogLine[]> {
  const key = logKey({ kind: 'Backup', namespace: 'shop', name: backup.metadata.name ?? '', uid: backup.metadata.uid ?? '' });
  return decodeLog(await readFile(join(dir, key)), 'test');
}

const condition = (b: BackupObject) => b.status?.conditions?.find((c) => c.type === 'LogStored');
const events = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace: 'shop' })).items.filter((e) => e.involvedObject.name === name && e.reason === reason);

describe('storing a finished operation\'s log', () => {
  it('stores phases, Events, the agent\'s error and failed files, and the volume summary once the Backup ended', async () => {
    const { ctx } = context();
    await runToFailed(ctx, 'b-failed', 'dir');
    const { backup } = await settle(ctx, 'b-failed');
    expect(backup.status?.phase).toBe('Failed');
    expect(condition(backup)).toMatchObject({ status: 'True', reason: 'LogStored' });
    expect(condition(backup)?.message).toMatch(/lines stored at BackupLocation dir as ferry_logs\/backup\/shop\/b-failed\/.*\.jsonl\.gz/);
    const lines = await storedLines(backup);
    const text = lines.map((l) => `${l.level} ${l.source} ${l.volume ?? '-'} ${l.msg} ${l.code ?? ''}`);
    expect(text[0]).toBe('info coordinator - Backup shop/b-failed New → InProgress ');
    expect(text).toContain('error agent/node-a shop/db-0/data job job-1 failed: volume data of pod shop/db-0 is not under the pods dir VolumeNotFound');
    expect(text).toContain('warn agent/node-a shop/db-0/data /d0/f1: EACCES FileError');
    expect(text).toContain('warn agent/node-a shop/db-0/data 2 more file error(s) not listed FileError');
    expect(text).toContain('warn coordinator shop/db-0/data the volume failed VolumeNotFound');
    expect(text).toContain('error coordinator shop/db-0/data volume Failed: VolumeNotFound: volume data of pod shop/db-0 is not under the pods dir VolumeNotFound');
    expect(text.at(-1)).toBe('error coordinator - Backup shop/b-failed ended Failed: VolumeNotFound: db-0/data failed VolumeNotFound');
    expect(ctx.operationLogs?.has(backup.metadata.uid ?? '')).toBe(false);
    // Settled: another reconcile writes nothing again.
    const before = (await stat(join(root, 'dir', logKey({ kind: 'Backup', namespace: 'shop', name: 'b-failed', uid: backup.metadata.uid ?? '' })))).mtimeMs;
    await settle(ctx, 'b-failed');
    expect((await stat(join(root, 'dir', logKey({ kind: 'Backup', namespace: 'shop', name: 'b-failed', uid: backup.metadata.uid ?? '' })))).mtimeMs).toBe(before);
  });

  it('says when it did not see the start (a restart) and still lists every volume\'s outcome', async () => {
    const { ctx } = context();
    await runToFailed(ctx, 'b-restarted', 'dir', false);
    const restarted = { ...ctx, operationLogs: new OperationLogBook(ctx.clock) };
    const { backup } = await settle(restarted, 'b-restarted');
    const lines = await storedLines(backup);
    expect(lines[0]).toMatchObject({ level: 'warn', source: 'coordinator' });
    expect(lines[0]?.msg).toMatch(/did not see Backup shop\/b-restarted from its start .* lost; the volume summary below is complete/);
    expect(lines.some((l) => l.msg.startsWith('volume Failed: VolumeNotFound'))).toBe(true);
  });

  it('writes nothing to a ReadOnly location: condition LogLocationReadOnly and a Warning Event, the phase unchanged', async () => {
    const { ctx } = context();
    await runToFailed(ctx, 'b-readonly', 'readonly');
    const { backup } = await settle(ctx, 'b-readonly');
    expect(backup.status?.phase).toBe('Failed');
    expect(condition(backup)).toMatchObject({ status: 'False', reason: 'LogLocationReadOnly' });
    expect(await events('b-readonly', 'LogLocationReadOnly')).toHaveLength(1);
    await expect(stat(join(root, 'readonly'))).rejects.toThrow(/ENOENT/);
  });

  it('retries an unreachable location every 30 s and gives up after 10 minutes with LogNotStored', async () => {
    const { ctx, clock } = context();
    await runToFailed(ctx, 'b-broken', 'broken');
    const first = await settle(ctx, 'b-broken');
    expect(condition(first.backup)).toMatchObject({ status: 'False', reason: 'LogStoreFailed' });
    expect(condition(first.backup)?.message).toMatch(/writing the log of Backup shop\/b-broken to BackupLocation broken failed: .*retried every 30 s/);
    expect(first.requeueAfterMs).toBe(30_000);
    await settle(ctx, 'b-broken');
    expect(await events('b-broken', 'LogStoreFailed')).toHaveLength(1);
    clock.advance(10 * 60_000);
    const last = await settle(ctx, 'b-broken');
    expect(condition(last.backup)).toMatchObject({ status: 'False', reason: 'LogNotStored' });
    expect(last.backup.status?.phase).toBe('Failed');
    expect(ctx.operationLogs?.has(last.backup.metadata.uid ?? '')).toBe(false);
  });

  it('deletes the log with its Backup', async () => {
    const { ctx } = context();
    await runToFailed(ctx, 'b-deleted', 'dir');
    const { backup } = await settle(ctx, 'b-deleted');
    const file = join(root, 'dir', logKey({ kind: 'Backup', namespace: 'shop', name: 'b-deleted', uid: backup.metadata.uid ?? '' }));
    await stat(file);
    await ctx.cluster.delete('Backup', 'shop', 'b-deleted');
    await reconcileBackup(ctx, (await ctx.cluster.get<BackupObject>('Backup', 'shop', 'b-deleted'))!);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    expect(await ctx.cluster.get('Backup', 'shop', 'b-deleted')).toBeUndefined();
  });

  it('stores a Restore\'s log at the location of the repository its volumes read, and deletes it with the Restore', async () => {
    const { ctx } = context();
    await ctx.cluster.createOrGet('BackupRepository', { metadata: { name: 'dir-shop', namespace: 'ferry-system' }, spec: { location: 'dir', namespace: 'shop', mover: 'native', path: 'shop', keySecretRef: { name: 'ferry-cluster-key' } } });
    const r = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'r1', namespace: 'shop', finalizers: ['ferry.dev/restore-cancel'] }, spec: { backupName: 'gone' } });
    const pvr = await ctx.cluster.createOrGet<PvrObject>('PodVolumeRestore', {
      metadata: { name: 'r1-0', namespace: 'shop', labels: { 'ferry.dev/restore': 'r1' }, ownerReferences: [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Restore', name: 'r1', uid: r.metadata.uid ?? '', controller: true }] },
      spec: { restore: 'r1', pod: { namespace: 'shop', name: 'db-0', uid: 'pod-2' }, node: 'node-a', target: { name: 'data', kind: 'emptyDir' }, repository: 'dir-shop', snapshotId: 'a'.repeat(64), mover: 'native' },
    } as unknown as PvrObject);
    await commit(ctx, 'Restore', r, { status: { phase: 'InProgress' } });
    await commit(ctx, 'PodVolumeRestore', pvr, { status: { phase: 'Completed' } });
    const ended = (await ctx.cluster.get<RestoreObject>('Restore', 'shop', 'r1'))!;
    await commit(ctx, 'Restore', ended, { status: { ...ended.status, phase: 'Completed' } });
    const done = (await ctx.cluster.get<RestoreObject>('Restore', 'shop', 'r1'))!;
    await commit(ctx, 'Restore', done, await reconcileRestore(ctx, done));
    const file = join(root, 'dir', logKey({ kind: 'Restore', namespace: 'shop', name: 'r1', uid: r.metadata.uid ?? '' }));
    const lines = decodeLog(await readFile(file), 'test').map((l) => `${l.volume ?? '-'} ${l.msg}`);
    expect(lines).toEqual(['- Restore shop/r1 New → InProgress', 'shop/db-0/data volume New → Completed', '- Restore shop/r1 InProgress → Completed', `shop/db-0/data volume Completed: from snapshot ${'a'.repeat(64)}`, '- Restore shop/r1 ended Completed']);
    await ctx.cluster.delete('Restore', 'shop', 'r1');
    await reconcileRestore(ctx, (await ctx.cluster.get<RestoreObject>('Restore', 'shop', 'r1'))!);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });

  it('sweeps the logs of operations that no longer exist and keeps the others', async () => {
    const { ctx } = context();
    await runToFailed(ctx, 'b-kept', 'dir');
    const { backup } = await settle(ctx, 'b-kept');
    const orphan = logKey({ kind: 'Restore', namespace: 'shop', name: 'r-gone', uid: 'no-such-uid' });
    await mkdir(join(root, 'dir', orphan, '..'), { recursive: true });
    await writeFile(join(root, 'dir', orphan), 'x');
    const location = await ctx.repositories.resolveLocation('dir');
    expect(await sweepLogs(ctx, location)).toEqual([orphan]);
    await expect(stat(join(root, 'dir', orphan))).rejects.toThrow(/ENOENT/);
    await stat(join(root, 'dir', logKey({ kind: 'Backup', namespace: 'shop', name: 'b-kept', uid: backup.metadata.uid ?? '' })));
    expect(await sweepLogs(ctx, await ctx.repositories.resolveLocation('readonly'))).toEqual([]);
  });
});

describe('GetBackupLogs through the API', () => {
  let running: RunningApi;
  const protos = loadClientProtos();
  let client: InstanceType<typeof protos.ferry.v1.Backups>;

  beforeAll(async () => {
    const certs = makeApiCerts(await mkdtemp(join(root, 'certs-')));
    const { ctx } = context();
    running = await startApi({ cluster: ctx.cluster, clock: ctx.clock, certs });
    client = new protos.ferry.v1.Backups(`localhost:${running.port}`, tlsCredentials(certs));
    await runToFailed(ctx, 'b-api', 'dir');
    await settle(ctx, 'b-api');
    await newBackup(ctx, 'b-running', 'dir');
    // Stored earlier at a location that is down now.
    const { backup } = await newBackup(ctx, 'b-s3down', 's3down');
    const now = new Date(ctx.clock.now()).toISOString();
    await ctx.cluster.replaceStatus('Backup', backup, { phase: 'Completed', location: 's3down', completionTimestamp: now, conditions: [{ type: 'LogStored', status: 'True', reason: 'LogStored', message: 'stored', lastTransitionTime: now }] });
  });

  afterAll(async () => {
    client?.close();
    await running?.stop();
  });

  function logs(name: string, token: string, namespace = 'shop'): Promise<{ lines: string[]; err?: ServiceError }> {
    return new Promise((resolve) => {
      const lines: string[] = [];
      const stream = client.getBackupLogs({ namespace, name }, bearer(token));
      stream.on('data', (c: OperationLogChunk__Output) => lines.push(...c.lines.map((l) => `${l.level} ${l.source} ${l.volume} ${l.message}`)));
      stream.on('error', (err: ServiceError) => resolve({ lines, err }));
      stream.on('end', () => resolve({ lines }));
    });
  }

  it('streams the stored lines to a user who may get the Backup, the failed volume\'s error among them', async () => {
    const r = await logs('b-api', 'token-alice');
    expect(r.err).toBeUndefined();
    expect(r.lines).toContain('error agent/node-a shop/db-0/data job job-1 failed: volume data of pod shop/db-0 is not under the pods dir');
  });

  it('refuses a user of another namespace with PERMISSION_DENIED naming the verb and namespace', async () => {
    const r = await logs('b-api', 'token-bob');
    expect(r.err?.code).toBe(status.PERMISSION_DENIED);
    expect(r.err?.details).toMatch(/bob may not get backups\.ferry\.dev .*shop/);
    expect(r.lines).toEqual([]);
  });

  it('answers FAILED_PRECONDITION while the Backup runs and NOT_FOUND naming a missing one', async () => {
    const r = await logs('b-running', 'token-alice');
    expect(r.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(r.err?.details).toMatch(/Backup shop\/b-running is New: its log is written when it ends/);
    const missing = await logs('no-such-backup', 'token-alice');
    expect(missing.err?.code).toBe(status.NOT_FOUND);
    expect(missing.err?.details).toBe('Backup shop/no-such-backup not found');
  });

  it('answers FAILED_PRECONDITION with the reason when the log was not stored, and NOT_FOUND when its object is gone', async () => {
    const readonly = await logs('b-readonly', 'token-alice');
    expect(readonly.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(readonly.err?.details).toMatch(/has no stored log \(LogLocationReadOnly\)/);
    const b = (await running.context.cluster.get<BackupObject>('Backup', 'shop', 'b-api'))!;
    await rm(join(root, 'dir', logKey({ kind: 'Backup', namespace: 'shop', name: 'b-api', uid: b.metadata.uid ?? '' })));
    const gone = await logs('b-api', 'token-alice');
    expect(gone.err?.code).toBe(status.NOT_FOUND);
    expect(gone.err?.details).toMatch(/the log of Backup shop\/b-api is missing from BackupLocation dir/);
  });

  it('answers UNAVAILABLE naming the location when it does not answer', async () => {
    const r = await logs('b-s3down', 'token-alice');
    expect(r.err?.code).toBe(status.UNAVAILABLE);
    expect(r.err?.details).toMatch(/the log of Backup shop\/b-s3down could not be read from BackupLocation s3down/);
  }, 120_000);
});
