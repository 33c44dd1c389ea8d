/**
 * BackupSchedule on the fake API server with a ManualClock: Backups appear at the run
 * times (owned, labelled, tagged), Forbid skips a run while one is active, a downtime is
 * caught up within maxCatchUp, status follows. Retention runs on a real local native
 * repository: exactly the schedule's snapshots outside the policy are forgotten, per lineage.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import type { Mover } from '@ferry/mover';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { ManualClock } from '../clock.js';
import { testContext } from '../context.fixture.js';
import { commit } from '../controllers/commit.js';
import { reconcileRestore, RESTORE_FINALIZER } from '../controllers/restore.js';
import type { BackupObject, PvbObject, RestoreObject } from '../objects.js';
import { nativePurgeMover } from '../purge.js';
import type { LocationObject } from '../repositories.js';
import { reconcileSchedule, type ScheduleObject } from './controller.js';
import { scheduleTag } from './retention.js';
import { startWindowOf } from './window.js';

let api: FakeApiServer;
let core: CoreV1Api;
let root: string;
const HOUR = 3_600_000;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-schedule-'));
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', 'shop']) await core.createNamespace({ body: { metadata: { name } } });
  const { kube } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: join(root, 'repos') } } } });
  await mkdir(join(root, 'src'), { recursive: true });
});

afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

type Ctx = ReturnType<typeof testContext>['ctx'];

/** One reconcile and its status write, as the work queue does. */
async function step(ctx: Ctx, name: string): Promise<{ schedule: ScheduleObject; requeueAfterMs?: number }> {
  const s = (await ctx.cluster.get<ScheduleObject>('BackupSchedule', 'shop', name))!;
  const d = await reconcileSchedule(ctx, s);
  await commit(ctx, 'BackupSchedule', s, d);
  return { schedule: (await ctx.cluster.get<ScheduleObject>('BackupSchedule', 'shop', name))!, ...(d.requeueAfterMs !== undefined ? { requeueAfterMs: d.requeueAfterMs } : {}) };
}

const backupsOf = async (ctx: Ctx, schedule: string) => (await ctx.cluster.list<BackupObject>('Backup', 'shop', `ferry.dev/schedule=${schedule}`)).map((b) => b.metadata.name ?? '').sort();
const events = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace: 'shop' })).items.filter((e) => e.involvedObject.name === name && e.reason === reason);

async function finish(ctx: Ctx, name: string, phase: 'Completed' | 'Failed', at: number): Promise<void> {
  const b = (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!;
  await ctx.cluster.replaceStatus('Backup', b, { phase, completionTimestamp: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z') });
}

/** A ManualClock at the top of the next hour after the schedule's creation (the fake server stamps real time). */
async function createSchedule(name: string, spec: ScheduleObject['spec']): Promise<{ ctx: Ctx; clock: ManualClock }> {
  const { ctx: setup } = testContext(api.kubeConfig());
  // A schedule created exactly on a minute boundary would have a run due at once; the tests count runs.
  while (new Date().getUTCSeconds() === 0) await new Promise((r) => setTimeout(r, 200));
  const s = await setup.cluster.createOrGet<ScheduleObject>('BackupSchedule', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupSchedule', metadata: { name, namespace: 'shop' }, spec });
  const created = Date.parse(String(s.metadata.creationTimestamp));
  const clock = new ManualClock(created);
  return { ctx: testContext(api.kubeConfig(), clock).ctx, clock };
}

describe('BackupSchedule controller', () => {
  it('creates owned, labelled, tagged Backups at run times; Forbid skips; downtime is caught up within maxCatchUp', async () => {
    const { ctx, clock } = await createSchedule('hourly', { schedule: '0 * * * *', timeZone: 'Europe/Berlin', maxCatchUp: 2, template: { includeVolumes: ['data'], tags: ['team-a'] } });
    const first = await step(ctx, 'hourly');
    const next = Date.parse(first.schedule.status!.nextScheduleTime!);
    expect(first.schedule.status).toMatchObject({ phase: 'Active', observedGeneration: 1 });
    expect(next % HOUR).toBe(0);
    expect(first.requeueAfterMs).toBe(next - clock.now());
    expect(await backupsOf(ctx, 'hourly')).toEqual([]);

    // The run: one Backup from the template, owned by the schedule and tagged for retention.
    clock.advance(next - clock.now() + 1_500);
    const run = await step(ctx, 'hourly');
    const runName = `hourly-${new Date(next).toISOString().slice(0, 19).replace(/\D/g, '')}`;
    expect(await backupsOf(ctx, 'hourly')).toEqual([runName]);
    const backup = (await ctx.cluster.get<BackupObject>('Backup', 'shop', runName))!;
    expect(backup.spec).toMatchObject({ includeVolumes: ['data'], tags: ['team-a', scheduleTag('shop', 'hourly')] });
    // Not owned: deleting the schedule must leave its backups (and their data) alone.
    expect(backup.metadata.ownerReferences ?? []).toEqual([]);
    expect(run.schedule.status).toMatchObject({ lastScheduleTime: new Date(next).toISOString().replace('.000', ''), lastBackup: runName, active: [runName], nextScheduleTime: new Date(next + HOUR).toISOString().replace('.000', '') });
    expect(run.requeueAfterMs).toBe(HOUR - 1_500);

    // An hour later it still runs: Forbid skips this run, with a Warning Event.
    clock.advance(HOUR);
    const skipped = await step(ctx, 'hourly');
    expect(await backupsOf(ctx, 'hourly')).toEqual([runName]);
    expect(skipped.schedule.status?.lastBackup).toBe(runName);
    expect((await events('hourly', 'ConcurrencyForbid'))[0]?.message).toContain(`Backup(s) ${runName} still running`);

    // It completes; the skipped run is not started late.
    clock.advance(10 * 60_000);
    await finish(ctx, runName, 'Completed', clock.now());
    const done = await step(ctx, 'hourly');
    expect(await backupsOf(ctx, 'hourly')).toEqual([runName]);
    expect(done.schedule.status?.active).toBeUndefined();
    expect(done.schedule.status?.lastSuccessfulTime).toBe(backup.metadata.creationTimestamp instanceof Date ? backup.metadata.creationTimestamp.toISOString().replace('.000', '') : String(backup.metadata.creationTimestamp));

    // Five hours of downtime: the two most recent missed runs start, the rest are reported.
    clock.advance(5 * HOUR);
    await step(ctx, 'hourly');
    const after = await backupsOf(ctx, 'hourly');
    expect(after).toHaveLength(3);
    expect(after.slice(1).map((n) => Date.parse(n.replace(/^hourly-(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/, '$1-$2-$3T$4:$5:$6Z')))).toEqual([next + 5 * HOUR, next + 6 * HOUR]);
    expect((await events('hourly', 'MissedRuns'))[0]?.message).toMatch(/^3 missed runs from .* not started: maxCatchUp is 2/);
  });

  it('@daily-random starts at the schedule\'s own fixed time of day, not at midnight, and keeps it', async () => {
    const { ctx, clock } = await createSchedule('spread', { schedule: '@daily-random', template: {} });
    const offset = startWindowOf({ namespace: 'shop', name: 'spread', schedule: '@daily-random' }).offsetMs;
    const first = await step(ctx, 'spread');
    const next = Date.parse(first.schedule.status!.nextScheduleTime!);
    expect(next % (24 * HOUR)).toBe(offset);
    expect(first.schedule.status?.conditions?.[0]?.message).toMatch(/"@daily-random" in UTC, shifted by .* within a 24h0m0s start window/);
    clock.advance(next - clock.now() - 1_000);
    await step(ctx, 'spread');
    expect(await backupsOf(ctx, 'spread')).toEqual([]);
    clock.advance(2_000);
    const run = await step(ctx, 'spread');
    expect(await backupsOf(ctx, 'spread')).toEqual([`spread-${new Date(next).toISOString().slice(0, 19).replace(/\D/g, '')}`]);
    expect(Date.parse(run.schedule.status!.nextScheduleTime!)).toBe(next + 24 * HOUR);
  });

  it('Replace: the running Backup gets spec.cancel and the new run starts', async () => {
    const { ctx, clock } = await createSchedule('replacing', { schedule: '*/10 * * * *', concurrencyPolicy: 'Replace', template: {} });
    await step(ctx, 'replacing');
    clock.advance(10 * 60_000);
    await step(ctx, 'replacing');
    const [first, ...none] = await backupsOf(ctx, 'replacing');
    expect(none).toEqual([]);
    clock.advance(10 * 60_000);
    const r = await step(ctx, 'replacing');
    const names = await backupsOf(ctx, 'replacing');
    expect(names).toHaveLength(2);
    expect(names[0]).toBe(first);
    expect((await ctx.cluster.get<BackupObject>('Backup', 'shop', first!))?.spec.cancel).toBe(true);
    expect((await ctx.cluster.get<BackupObject>('Backup', 'shop', names[1]!))?.spec.cancel).toBeUndefined();
    expect(r.schedule.status?.active).toEqual(names);
    expect((await events('replacing', 'ConcurrencyReplace'))[0]?.message).toContain(`canceling Backup(s) ${first}`);
  });

  it('invalid cron: phase Invalid with a condition naming the field, no Backups, no requeue; fixing it schedules again', async () => {
    const { ctx } = await createSchedule('broken', { schedule: '0 0 * * MONDAY', template: {} });
    const r = await step(ctx, 'broken');
    expect(r.schedule.status?.phase).toBe('Invalid');
    expect(r.schedule.status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'InvalidSchedule', message: expect.stringContaining('day-of-week field: "MONDAY"') });
    expect(r.requeueAfterMs).toBeUndefined();
    await ctx.cluster.mergePatch('BackupSchedule', 'shop', 'broken', { spec: { schedule: '0 0 * * MON' } });
    const fixed = await step(ctx, 'broken');
    expect(fixed.schedule.status).toMatchObject({ phase: 'Active', observedGeneration: 2 });
    expect(await backupsOf(ctx, 'broken')).toEqual([]);
  });
});

async function tagged(mover: Mover, volume: string, tags: string[]): Promise<string> {
  await writeFile(join(root, 'src', `${volume}.txt`), `${volume} ${Math.random()}`);
  return (await mover.backup({ source: { kind: 'directory', path: join(root, 'src') }, identity: { kind: 'pod', namespace: 'shop', pod: 'app', volume }, tags })).snapshotId;
}

/** shop's own repository at the local location, initialised, and the coordinator's mover on it. */
async function shopRepository(ctx: Ctx): Promise<{ repoName: string; native: Mover }> {
  const location = (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
  const repoName = (await ctx.repositories.ensure(location, 'shop', 'native')).metadata.name!;
  const native = nativePurgeMover({ repository: repoName, mover: 'native', access: await ctx.repositories.jobRepository(repoName, { initialize: true }) }).mover;
  await native.init({});
  return { repoName, native };
}

describe('BackupSchedule retention on a real local repository', () => {
  it('after a successful run forgets exactly the schedule snapshots outside the policy, per lineage; a failure is recorded and does not touch the Backup', async () => {
    const { ctx, clock } = await createSchedule('nightly', { schedule: '@daily', template: {}, retention: { keepLast: 2 } });
    const { repoName, native } = await shopRepository(ctx);
    const mine = [scheduleTag('shop', 'nightly')];
    const a = [await tagged(native, 'a', mine), await tagged(native, 'a', mine), await tagged(native, 'a', mine)];
    const b = [await tagged(native, 'b', mine), await tagged(native, 'b', mine)];
    const manual = await tagged(native, 'a', []);
    const otherSchedule = await tagged(native, 'a', [scheduleTag('shop', 'other')]);
    const a4 = await tagged(native, 'a', mine);

    // The run that made a4 completed.
    const run = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'nightly-20300101000000', namespace: 'shop', labels: { 'ferry.dev/schedule': 'nightly' } }, spec: {} });
    const pvb = await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: 'nightly-20300101000000-a', namespace: 'shop', labels: { 'ferry.dev/backup': run.metadata.name! } }, spec: { backup: run.metadata.name!, pod: { namespace: 'shop', name: 'app', uid: 'u1' }, node: 'node-a', volume: { name: 'a', kind: 'emptyDir' }, repository: repoName, mover: 'native' } });
    await ctx.cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId: a4 });
    await finish(ctx, run.metadata.name!, 'Completed', clock.now());
    clock.advance(1_000);

    const retained = await step(ctx, 'nightly');
    expect(retained.schedule.status?.lastRetention).toMatchObject({ result: 'Succeeded', snapshotsForgotten: 2 });
    const left = (await native.snapshots({})).map((s) => s.id).sort();
    // Lineage a keeps its two newest of the schedule (a[2], a4); b keeps both; untagged and other-tagged stay.
    expect(left).toEqual([a[2], a4, ...b, manual, otherSchedule].sort());
    expect((await events('nightly', 'RetentionApplied'))[0]?.message).toContain('forgot 2 of 6 snapshot(s) of this schedule in 1 repository(ies)');

    // Owed once per successful run: reconciling again forgets nothing more and keeps the record.
    clock.advance(1_000);
    expect((await step(ctx, 'nightly')).schedule.status?.lastRetention).toEqual(retained.schedule.status?.lastRetention);
    expect((await native.snapshots({})).length).toBe(left.length);

    // A failing retention (an empty policy) is recorded on the schedule only.
    await ctx.cluster.mergePatch('BackupSchedule', 'shop', 'nightly', { spec: { retention: { keepLast: null } } });
    clock.advance(1_000);
    await finish(ctx, run.metadata.name!, 'Completed', clock.now());
    clock.advance(1_000);
    const failed = await step(ctx, 'nightly');
    expect(failed.schedule.status?.lastRetention).toMatchObject({ result: 'Failed', snapshotsForgotten: 0, message: expect.stringMatching(new RegExp(`BackupRepository ${repoName} \\(InvalidArgument\\): .*refusing to forget everything`)) });
    expect((await events('nightly', 'RetentionFailed'))).toHaveLength(1);
    expect((await ctx.cluster.get<BackupObject>('Backup', 'shop', run.metadata.name!))?.status?.phase).toBe('Completed');
    expect((await native.snapshots({})).length).toBe(left.length);
  });
});

describe('Backups after retention forgot their snapshots', () => {
  it('a Backup with no snapshot left is deleted (Event); one that keeps some says which volumes remain, and a Restore of a forgotten volume is refused', async () => {
    const { ctx, clock } = await createSchedule('weekly', { schedule: '@weekly', template: {}, retention: { keepLast: 1 } });
    const { repoName, native } = await shopRepository(ctx);
    const mine = [scheduleTag('shop', 'weekly')];
    // Three runs: the first backed up volume x, the second x and y, the third x again.
    const runs = [
      { name: 'weekly-1', volumes: { x: await tagged(native, 'x', mine) } },
      { name: 'weekly-2', volumes: { x: await tagged(native, 'x', mine), y: await tagged(native, 'y', mine) } },
      { name: 'weekly-3', volumes: { x: await tagged(native, 'x', mine) } },
    ];
    for (const run of runs) {
      const b = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: run.name, namespace: 'shop', labels: { 'ferry.dev/schedule': 'weekly' } }, spec: {} });
      for (const [volume, snapshotId] of Object.entries(run.volumes)) {
        const pvb = await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: `${run.name}-${volume}`, namespace: 'shop', labels: { 'ferry.dev/backup': run.name } }, spec: { backup: run.name, pod: { namespace: 'shop', name: 'app', uid: 'u1' }, node: 'node-a', volume: { name: volume, kind: 'emptyDir' }, repository: repoName, mover: 'native' } });
        await ctx.cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId });
      }
      clock.advance(1_000);
      await finish(ctx, b.metadata.name!, 'Completed', clock.now());
    }
    clock.advance(1_000);

    // keepLast 1 per volume: x of runs 1 and 2 go, y (its only snapshot) and x of run 3 stay.
    const retained = await step(ctx, 'weekly');
    expect(retained.schedule.status?.lastRetention).toMatchObject({ result: 'Succeeded', snapshotsForgotten: 2 });
    expect((await events('weekly', 'RetentionApplied'))[0]?.message).toContain('1 Backup(s) with no snapshot left were deleted');

    // Run 1 had only x: deleted, with an Event saying why.
    expect(await ctx.cluster.get<BackupObject>('Backup', 'shop', 'weekly-1')).toBeUndefined();
    expect((await events('weekly-1', 'SnapshotsForgotten'))[0]?.message).toBe(`all 1 snapshot(s) of this Backup were forgotten by retention of BackupSchedule shop/weekly in BackupRepository ${repoName}; nothing of it can be restored, so the Backup is deleted`);

    // Run 2 keeps y: the condition names what remains; the forgotten volume is marked.
    const partial = (await ctx.cluster.get<BackupObject>('Backup', 'shop', 'weekly-2'))!;
    expect(partial.status?.phase).toBe('Completed');
    expect(partial.status?.conditions?.find((c) => c.type === 'SnapshotsForgotten')).toMatchObject({ status: 'True', reason: 'PartiallyForgotten', message: 'the snapshots of 1 of 2 volume(s) were forgotten (shop/app/x); these can still be restored: shop/app/y' });
    expect((await ctx.cluster.get<PvbObject>('PodVolumeBackup', 'shop', 'weekly-2-x'))?.status?.snapshotForgotten).toBe(new Date(clock.now()).toISOString().replace('.000', ''));
    expect((await ctx.cluster.get<PvbObject>('PodVolumeBackup', 'shop', 'weekly-2-y'))?.status?.snapshotForgotten).toBeUndefined();
    expect(await ctx.cluster.get<BackupObject>('Backup', 'shop', 'weekly-3')).toBeDefined();

    // A Restore of the whole Backup is refused up front, naming the forgotten volume; the remaining one restores.
    const whole = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'whole', namespace: 'shop', finalizers: [RESTORE_FINALIZER] }, spec: { backupName: 'weekly-2' } });
    const refused = await reconcileRestore(ctx, whole);
    expect(refused.status).toMatchObject({ phase: 'Failed', error: { code: 'SnapshotForgotten' } });
    expect(refused.status?.error?.message).toMatch(/^Restore shop\/whole: the snapshot\(s\) of shop\/app\/x were forgotten by retention or forget and cannot be restored; .*spec.selection.volumes/);
    const onlyY = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'only-y', namespace: 'shop', finalizers: [RESTORE_FINALIZER] }, spec: { backupName: 'weekly-2', selection: { volumes: ['y'] } } });
    expect((await reconcileRestore(ctx, onlyY)).status).toMatchObject({ phase: 'InProgress', counts: { total: 1 } });
  });
});
