/**
 * Hooks and backup commands on the fake API server: the controllers run in this process
 * (reconciled by hand, as controllers.test.ts does), exec goes over the fake server's
 * WebSocket to a real shell in a per-pod directory, and backup commands write a real native
 * repository on the local filesystem. Each pod appends to `log` in its directory, so the
 * order of pre hook, dump and post hook is read back from there.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { isTerminalPhase } from '@ferry/api';
import { FakeApiServer } from '../../../test/fake-cluster/index.js';
import { testContext } from './context.fixture.js';
import { reconcileBackup } from './controllers/backup.js';
import { commit } from './controllers/commit.js';
import { reconcilePodVolumeBackup } from './controllers/pod-volume-backup.js';
import { matchPod, type RestoreItem } from './controllers/restore-items.js';
import type { ControllerContext } from './context.js';
import { nativePurgeMover } from './purge.js';
import type { BackupObject, PvbObject, RestoreObject } from './objects.js';
import { reconcileRestore } from './controllers/restore.js';

const NS = 'hooks';
let api: FakeApiServer;
let core: CoreV1Api;
let root: string;

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  root = await mkdtemp(join(tmpdir(), 'ferry-hooks-'));
  api.setExecHandler((r) => {
    const cwd = join(root, 'pods', r.pod.metadata.name!);
    mkdirSync(cwd, { recursive: true });
    return { cwd };
  });
  for (const name of ['ferry-system', NS]) await core.createNamespace({ body: { metadata: { name } } });
  const { kube } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: join(root, 'repo') } } } });
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'other' }, spec: { filesystem: { path: join(root, 'restic') } } } });
});

afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

const sh = (script: string) => JSON.stringify(['/bin/sh', '-c', script]);

/** A Running pod whose backup command appends `dump` to its log and prints `dump-of-<pod>`. */
async function pod(name: string, annotations: Record<string, string>): Promise<void> {
  const all = { 'backup.ferry.dev/backup-command': sh(`echo dump >> log; printf dump-of-${name}`), 'backup.ferry.dev/file-extension': 'txt', ...annotations };
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name, labels: { test: name }, annotations: all }, spec: { nodeName: 'node-a', containers: [{ name: 'db', image: 'x' }] } } });
  await core.patchNamespacedPodStatus({ namespace: NS, name, body: [{ op: 'replace', path: '/status', value: { phase: 'Running' } }] });
}

const log = (name: string) => readFile(join(root, 'pods', name, 'log'), 'utf8').catch(() => '');

/** Reconciles the Backup and its volumes until the Backup ends, waiting for the background tasks in between. */
async function runBackup(ctx: ControllerContext, name: string, selector: string, spec: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<{ backup: BackupObject; pvbs: PvbObject[] }> {
  await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name, namespace: NS }, spec: { labelSelector: { matchLabels: { test: selector } }, ...spec } });
  return reconcileUntilDone(ctx, name, timeoutMs);
}

async function reconcileUntilDone(ctx: ControllerContext, name: string, timeoutMs = 20_000, stopWhen?: (pvbs: PvbObject[]) => boolean): Promise<{ backup: BackupObject; pvbs: PvbObject[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = (await ctx.cluster.get<BackupObject>('Backup', NS, name))!;
    await commit(ctx, 'Backup', b, await reconcileBackup(ctx, b));
    for (const p of await ctx.cluster.list<PvbObject>('PodVolumeBackup', NS, `ferry.dev/backup=${name}`)) {
      const fresh = (await ctx.cluster.get<PvbObject>('PodVolumeBackup', NS, p.metadata.name!))!;
      await commit(ctx, 'PodVolumeBackup', fresh, await reconcilePodVolumeBackup(ctx, fresh));
    }
    const backup = (await ctx.cluster.get<BackupObject>('Backup', NS, name))!;
    const pvbs = await ctx.cluster.list<PvbObject>('PodVolumeBackup', NS, `ferry.dev/backup=${name}`);
    if (isTerminalPhase(backup.status?.phase) || stopWhen?.(pvbs)) return { backup, pvbs };
    if (Date.now() > deadline) throw new Error(`Backup ${name} did not finish: ${JSON.stringify(backup.status)} ${JSON.stringify(pvbs.map((p) => [p.metadata.annotations, p.status]))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function events(involvedName: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === involvedName);
}

async function snapshotsOf(ctx: ControllerContext): Promise<string[]> {
  const m = nativePurgeMover({ repository: 'local-hooks', mover: 'native', access: await ctx.repositories.jobRepository('local-hooks', { initialize: false }) });
  return (await m.mover.snapshots({})).map((s) => s.id);
}

describe('pre and post hooks around a pod backup', () => {
  it('runs pre hook, backup command, post hook in that order; records the outcomes; the dump is a snapshot', async () => {
    await pod('ok', { 'pre.hook.backup.ferry.dev/command': sh('echo pre >> log'), 'post.hook.backup.ferry.dev/command': sh('echo post >> log') });
    const { ctx } = testContext(api.kubeConfig());
    const { backup, pvbs } = await runBackup(ctx, 'b-ok', 'ok');
    expect(backup.status?.phase, JSON.stringify(backup.status)).toBe('Completed');
    expect(await log('ok')).toBe('pre\ndump\npost\n');
    expect(pvbs).toHaveLength(1);
    expect(pvbs[0]!.spec.volume).toEqual({ name: 'db', kind: 'command', command: { container: 'db', fileName: 'ok-db.txt' } });
    expect(JSON.parse(pvbs[0]!.metadata.annotations!['ferry.dev/pre-hook']!)).toMatchObject({ outcome: 'Succeeded', exitCode: 0, container: 'db' });
    expect(backup.status?.conditions?.find((x) => x.type === 'HooksSucceeded')).toMatchObject({ status: 'True', message: '2 hook(s) ran and succeeded' });
    expect((await events('ok')).map((e) => e.reason).sort()).toEqual(['PostHookSucceeded', 'PreHookSucceeded']);
    expect(await snapshotsOf(ctx)).toContain(pvbs[0]!.status?.snapshotId);
    expect(pvbs[0]!.status?.progress?.bytesDone).toBe('dump-of-ok'.length);
  });

  it('on-error Fail: a failing pre hook fails the pod\'s volumes with HookFailed without running them, and the post hook still runs', async () => {
    await pod('fail', { 'pre.hook.backup.ferry.dev/command': sh('echo pre >> log; echo "cannot lock tables" >&2; exit 3'), 'post.hook.backup.ferry.dev/command': sh('echo post >> log') });
    const { ctx } = testContext(api.kubeConfig());
    const { backup, pvbs } = await runBackup(ctx, 'b-fail', 'fail');
    expect(backup.status?.phase).toBe('Failed');
    expect(await log('fail')).toBe('pre\npost\n');
    expect(pvbs[0]!.status).toMatchObject({ phase: 'Failed', error: { code: 'HookFailed' } });
    expect(pvbs[0]!.status?.error?.message).toMatch(/pre hook of pod hooks\/fail in container db exited with code 3; stderr ends: cannot lock tables; the pod's volumes were not backed up/);
    const hooks = backup.status?.conditions?.find((x) => x.type === 'HooksSucceeded');
    expect(hooks).toMatchObject({ status: 'False', reason: 'HookFailed' });
    expect(hooks?.message).toMatch(/exit code 3, on-error Fail/);
    expect((await events('fail')).find((e) => e.reason === 'PreHookFailed')?.type).toBe('Warning');
  });

  it('on-error Continue: a failing pre hook is recorded and the volume is backed up anyway', async () => {
    await pod('cont', { 'pre.hook.backup.ferry.dev/command': sh('echo pre >> log; exit 1'), 'pre.hook.backup.ferry.dev/on-error': 'Continue', 'post.hook.backup.ferry.dev/command': sh('echo post >> log') });
    const { ctx } = testContext(api.kubeConfig());
    const { backup } = await runBackup(ctx, 'b-cont', 'cont');
    expect(backup.status?.phase).toBe('Completed');
    expect(await log('cont')).toBe('pre\ndump\npost\n');
    expect(backup.status?.conditions?.find((x) => x.type === 'HooksSucceeded')).toMatchObject({ status: 'False', reason: 'HookFailed' });
  });

  it('runs the post hook when the backup itself fails (a backup command exiting non-zero stores no snapshot)', async () => {
    await pod('dumpfail', { 'backup.ferry.dev/backup-command': sh('echo dump >> log; printf partial; exit 2'), 'pre.hook.backup.ferry.dev/command': sh('echo pre >> log'), 'post.hook.backup.ferry.dev/command': sh('echo post >> log') });
    const { ctx } = testContext(api.kubeConfig());
    const before = await snapshotsOf(ctx).catch(() => []);
    const { backup, pvbs } = await runBackup(ctx, 'b-dumpfail', 'dumpfail');
    expect(backup.status?.phase).toBe('Failed');
    expect(await log('dumpfail')).toBe('pre\ndump\npost\n');
    expect(pvbs[0]!.status).toMatchObject({ phase: 'Failed', error: { code: 'BackupCommandFailed' } });
    expect(pvbs[0]!.status?.error?.message).toMatch(/exited with code 2; no snapshot was stored/);
    expect(pvbs[0]!.status?.snapshotId).toBeUndefined();
    expect(await snapshotsOf(ctx)).toEqual(before);
  });

  it('a hook that outlives its timeout is stopped and counts as failed', async () => {
    await pod('slow', { 'pre.hook.backup.ferry.dev/command': sh('echo pre >> log; sleep 30; echo woke >> log'), 'pre.hook.backup.ferry.dev/timeout': '1s' });
    const { ctx } = testContext(api.kubeConfig());
    const started = Date.now();
    const { backup, pvbs } = await runBackup(ctx, 'b-slow', 'slow');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(backup.status?.phase).toBe('Failed');
    expect(pvbs[0]!.status?.error?.message).toMatch(/pre hook of pod hooks\/slow in container db timed out after 1 s and was stopped/);
    await new Promise((r) => setTimeout(r, 500));
    expect(await log('slow')).toBe('pre\n');
  });

  it('a recorded pre hook does not run again after a coordinator restart', async () => {
    await pod('restart', { 'pre.hook.backup.ferry.dev/command': sh('echo pre >> log'), 'post.hook.backup.ferry.dev/command': sh('echo post >> log') });
    const first = testContext(api.kubeConfig()).ctx;
    await first.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'b-restart', namespace: NS }, spec: { labelSelector: { matchLabels: { test: 'restart' } } } });
    // Stop the first "coordinator" as soon as the pre hook is recorded, before the volume ran.
    await reconcileUntilDone(first, 'b-restart', 20_000, (pvbs) => pvbs.some((p) => p.metadata.annotations?.['ferry.dev/pre-hook']?.includes('Succeeded')));
    const second = testContext(api.kubeConfig()).ctx;
    const { backup } = await reconcileUntilDone(second, 'b-restart');
    expect(backup.status?.phase).toBe('Completed');
    expect(await log('restart')).toMatch(/^pre\n(dump\n)+post\n$/);
  });

  it('a malformed pre hook command fails the pod\'s volumes instead of backing up unprepared data', async () => {
    await pod('broken', { 'pre.hook.backup.ferry.dev/command': '["/bin/sh", "-c", ', 'post.hook.backup.ferry.dev/command': sh('echo post >> log') });
    const { ctx } = testContext(api.kubeConfig());
    const { backup, pvbs } = await runBackup(ctx, 'b-broken', 'broken');
    expect(backup.status?.phase).toBe('Failed');
    expect(pvbs[0]!.status).toMatchObject({ phase: 'Failed', error: { code: 'HookFailed' } });
    expect(pvbs[0]!.status?.error?.message).toMatch(/pre hook was not run: annotation pre.hook.backup.ferry.dev\/command is malformed/);
    expect(await log('broken')).toBe('post\n');
  });

  it('a backup command is stopped by the volume timeout (Timeout) and by spec.cancel (Canceled), storing nothing', async () => {
    await pod('hang', { 'backup.ferry.dev/backup-command': sh('printf partial; sleep 30; echo late >> log') });
    const { ctx } = testContext(api.kubeConfig());
    const before = await snapshotsOf(ctx);
    const timedOut = await runBackup(ctx, 'b-hang', 'hang', { volumeTimeout: '1s' });
    expect(timedOut.pvbs[0]!.status).toMatchObject({ phase: 'Failed', error: { code: 'Timeout' } });
    await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'b-cancel', namespace: NS }, spec: { labelSelector: { matchLabels: { test: 'hang' } } } });
    await reconcileUntilDone(ctx, 'b-cancel', 20_000, (pvbs) => pvbs.some((p) => p.status?.phase === 'InProgress'));
    await ctx.cluster.mergePatch('Backup', NS, 'b-cancel', { spec: { cancel: true } });
    const canceled = await reconcileUntilDone(ctx, 'b-cancel');
    expect(canceled.backup.status?.phase).toBe('Canceled');
    expect(canceled.pvbs[0]!.status?.phase).toBe('Canceled');
    expect(await snapshotsOf(ctx)).toEqual(before);
  });

  it('a backup command on a restic repository fails that volume with Unsupported', async () => {
    await pod('restic', {});
    const { ctx } = testContext(api.kubeConfig());
    const { pvbs } = await runBackup(ctx, 'b-restic', 'restic', { location: 'other', mover: 'restic' });
    expect(pvbs[0]!.status).toMatchObject({ phase: 'Failed', error: { code: 'Unsupported' } });
    expect(pvbs[0]!.status?.error?.message).toMatch(/restic mover.*native/);
    expect(await log('restic')).toBe('');
  });
});

describe('restoring a backup command\'s output', () => {
  it('a Restore no pod claims the file for skips it with a reason pointing at ferry dump, instead of failing', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'r-ok', namespace: NS }, spec: { backupName: 'b-ok', podWaitTimeout: '1m' } });
    const step = async () => {
      const r = (await ctx.cluster.get<RestoreObject>('Restore', NS, 'r-ok'))!;
      await commit(ctx, 'Restore', r, await reconcileRestore(ctx, r));
      return (await ctx.cluster.get<RestoreObject>('Restore', NS, 'r-ok'))!;
    };
    expect((await step()).metadata.finalizers).toEqual(['ferry.dev/restore-cancel']);
    expect((await step()).status?.phase).toBe('InProgress');
    expect((await step()).status?.phase).toBe('InProgress');
    clock.advance(61_000);
    const done = await step();
    expect(done.status?.phase).toBe('Completed');
    expect(done.status?.counts).toMatchObject({ total: 0, skipped: 1, failed: 0 });
    const why = done.status?.conditions?.find((x) => x.reason === 'BackupCommandOutputSkipped');
    expect(why?.message).toMatch(/ok-db\.txt.*backup.ferry.dev\/backup-command-restore-volume.*ferry dump/);
  });


  const item = (key: string, extra: Partial<RestoreItem>): RestoreItem => ({ key, sourceNamespace: NS, targetNamespace: NS, pod: 'db-0', controller: { kind: 'StatefulSet', name: 'db' }, volume: 'data', snapshotId: 'a'.repeat(64), repository: 'r', mover: 'native', ...extra });
  const items = [item('vol', {}), item('cmd', { volume: 'postgres', commandFile: 'db-0-postgres.sql' })];
  const pod = { name: 'db-0', controller: { kind: 'StatefulSet', name: 'db' }, volumes: [{ name: 'data' }, { name: 'postgres' }, { name: 'dumps' }] };

  it('goes only into the volume the target pod names, never into a volume that shares the container\'s name', () => {
    expect([...matchPod(pod, items, new Set())].map(([v, i]) => [v, i.key])).toEqual([['data', 'vol']]);
    expect([...matchPod({ ...pod, commandRestoreVolume: 'dumps' }, items, new Set())].map(([v, i]) => [v, i.key])).toEqual([['data', 'vol'], ['dumps', 'cmd']]);
  });

  it('does not take a volume that already receives a volume snapshot, nor another StatefulSet pod\'s dump', () => {
    expect(matchPod({ ...pod, commandRestoreVolume: 'data' }, items, new Set()).get('data')?.key).toBe('vol');
    expect(matchPod({ ...pod, name: 'db-1', commandRestoreVolume: 'dumps' }, items, new Set()).has('dumps')).toBe(false);
  });
});
