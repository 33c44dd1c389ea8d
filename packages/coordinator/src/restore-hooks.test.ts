/**
 * Restore hooks on the fake API server: the Restore and restored-pod controllers run in
 * this process (reconciled by hand), exec goes over the fake server's WebSocket to a real
 * shell in a per-pod directory. The agent is played by the test: it writes the "restored"
 * file into the pod's directory and then marks the pod's PodVolumeRestores Completed, so
 * a hook that reads the file proves it ran after the data was back.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type CoreV1Event, type V1ContainerStatus } from '@kubernetes/client-node';
import { isTerminalPhase } from '@ferry/api';
import { FakeApiServer } from '../../../test/fake-cluster/index.js';
import { testContext } from './context.fixture.js';
import { ANNOTATIONS_OUT, LABELS, type ControllerContext } from './context.js';
import { commit } from './controllers/commit.js';
import { reconcileRestoredPod } from './controllers/pod-restore.js';
import { reconcileRestore } from './controllers/restore.js';
import type { PvrObject, RestoreObject } from './objects.js';

const NS = 'rhooks';
const SNAPSHOT = 'c'.repeat(64);
let api: FakeApiServer;
let core: CoreV1Api;
let root: string;

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  root = await mkdtemp(join(tmpdir(), 'ferry-restore-hooks-'));
  api.setExecHandler((r) => {
    const cwd = podDir(r.pod.metadata.name!);
    mkdirSync(cwd, { recursive: true });
    return { cwd };
  });
  for (const name of ['ferry-system', NS]) await core.createNamespace({ body: { metadata: { name } } });
});

afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

const podDir = (name: string) => join(root, 'pods', name);
const log = (name: string) => readFile(join(podDir(name), 'log'), 'utf8').catch(() => '');
const sh = (script: string) => JSON.stringify(['/bin/sh', '-c', script]);
/** Reads the restored file into the log: the hook fails (cat exits 1) if the data is not there. */
const REPLAY = 'cat data/restored.txt >> log';

const running = (name: string): V1ContainerStatus => ({ name, image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: new Date() } } });
const waiting = (name: string): V1ContainerStatus => ({ name, image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } });

/** A Restore of two snapshots (volumes data and logs), already InProgress. */
async function restoreOf(ctx: ControllerContext, name: string, spec: Partial<RestoreObject['spec']> = {}): Promise<RestoreObject> {
  const snapshots = ['data', 'logs'].map((volume) => ({ snapshotId: SNAPSHOT, location: 'local', namespace: NS, volume, pod: 'src' }));
  const created = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name, namespace: NS }, spec: { snapshots, podWaitTimeout: '1h', ...spec } });
  return (await commit(ctx, 'Restore', created, { status: { phase: 'InProgress', startTimestamp: new Date(ctx.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z') } })) as RestoreObject;
}

/** A pod the webhook adopted for the Restore, bound and with its app container in the given state. */
async function restoredPod(restore: RestoreObject, name: string, annotations: Record<string, string>, app: 'running' | 'waiting' = 'running'): Promise<void> {
  const volumes = { data: 'snapshot-0', logs: 'snapshot-1' };
  const adopted = { [ANNOTATIONS_OUT.restoreUid]: restore.metadata.uid!, [ANNOTATIONS_OUT.restoreVolumes]: JSON.stringify(volumes), [ANNOTATIONS_OUT.restoreNamespace]: NS };
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name, labels: { [LABELS.restoredBy]: restore.metadata.name! }, annotations: { ...adopted, ...annotations } }, spec: { nodeName: 'node-a', containers: [{ name: 'db', image: 'x' }, { name: 'side', image: 'x' }], volumes: [{ name: 'data', emptyDir: {} }, { name: 'logs', emptyDir: {} }] } } });
  await setApp(name, app);
}

async function setApp(name: string, app: 'running' | 'waiting'): Promise<void> {
  const statuses = app === 'running' ? [running('db'), running('side')] : [waiting('db'), waiting('side')];
  await core.patchNamespacedPodStatus({ namespace: NS, name, body: [{ op: 'replace', path: '/status', value: { phase: app === 'running' ? 'Running' : 'Pending', containerStatuses: statuses } }] });
}

const pvrsOf = (ctx: ControllerContext, restore: string) => ctx.cluster.list<PvrObject>('PodVolumeRestore', NS, `${LABELS.restore}=${restore}`);

/** What the agent does: the data lands in the pod's directory, then the volumes end in `phase`. */
async function finishVolumes(ctx: ControllerContext, restore: string, pod: string, phase: 'Completed' | 'Failed' = 'Completed'): Promise<void> {
  mkdirSync(join(podDir(pod), 'data'), { recursive: true });
  if (phase === 'Completed') await writeFile(join(podDir(pod), 'data', 'restored.txt'), `rows-of-${pod}\n`);
  for (const p of await pvrsOf(ctx, restore)) {
    await commit(ctx, 'PodVolumeRestore', p, { status: { phase, ...(phase === 'Failed' ? { error: { code: 'MoverFailed', message: 'disk full', retriable: false } } : { markerWritten: true }) } });
  }
}

async function step(ctx: ControllerContext, name: string): Promise<RestoreObject> {
  const r = (await ctx.cluster.get<RestoreObject>('Restore', NS, name))!;
  await commit(ctx, 'Restore', r, await reconcileRestore(ctx, r));
  return (await ctx.cluster.get<RestoreObject>('Restore', NS, name))!;
}

/** Reconciles the Restore until it ends, waiting for the background hook tasks in between (and moving the manual clock by `advanceMs` each time). */
async function untilDone(ctx: ControllerContext, name: string, o: { advance?: (ms: number) => void; advanceMs?: number } = {}, timeoutMs = 20_000): Promise<RestoreObject> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    o.advance?.(o.advanceMs ?? 0);
    const r = await step(ctx, name);
    if (isTerminalPhase(r.status?.phase)) return r;
    if (Date.now() > deadline) throw new Error(`Restore ${name} did not finish: ${JSON.stringify(r.status)} ${JSON.stringify((await pvrsOf(ctx, name)).map((p) => p.metadata.annotations))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function events(involvedName: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === involvedName);
}

const hookRecords = async (ctx: ControllerContext, restore: string) => (await pvrsOf(ctx, restore)).map((p) => JSON.parse(p.metadata.annotations?.['ferry.dev/restore-hook'] ?? 'null'));
const condition = (r: RestoreObject, type: string) => r.status?.conditions?.find((x) => x.type === type);

describe('restore hooks', () => {
  it('runs once, in the chosen container, after every volume of the pod is back; the Restore ends only after the outcome is recorded', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-ok');
    await restoredPod(restore, 'ok', { 'post.hook.restore.ferry.dev/command': sh(REPLAY), 'post.hook.restore.ferry.dev/container': 'side' });
    await reconcileRestoredPod(ctx, NS, 'ok');
    expect(await hookRecords(ctx, 'r-ok')).toEqual([{ outcome: 'Pending' }, { outcome: 'Pending' }]);
    // Volumes not done: the hook waits, and so does the Restore.
    for (let i = 0; i < 3; i++) expect((await step(ctx, 'r-ok')).status?.phase).toBe('InProgress');
    expect(await log('ok')).toBe('');
    await finishVolumes(ctx, 'r-ok', 'ok');
    const done = await untilDone(ctx, 'r-ok');
    expect(done.status?.phase, JSON.stringify(done.status)).toBe('Completed');
    expect(await log('ok')).toBe('rows-of-ok\n');
    for (const r of await hookRecords(ctx, 'r-ok')) expect(r).toMatchObject({ outcome: 'Succeeded', container: 'side', exitCode: 0 });
    expect(condition(done, 'HooksSucceeded')).toMatchObject({ status: 'True', reason: 'HooksSucceeded', message: '1 restore hook(s) ran and succeeded' });
    expect((await events('ok')).map((e) => e.reason)).toEqual(['PostRestoreHookSucceeded']);
    expect((await events('r-ok')).map((e) => e.reason)).toContain('PostRestoreHookSucceeded');
    // A second coordinator (restart, new leader) reads the recorded outcome and runs nothing.
    const second = testContext(api.kubeConfig()).ctx;
    await step(second, 'r-ok');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await log('ok')).toBe('rows-of-ok\n');
  });

  it('on-error Fail: a failing hook makes the Restore PartiallyFailed with HookFailed, naming the exit code and stderr', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-fail');
    await restoredPod(restore, 'fail', { 'post.hook.restore.ferry.dev/command': sh(`${REPLAY}; echo "pg_restore: relation exists" >&2; exit 4`) });
    await reconcileRestoredPod(ctx, NS, 'fail');
    await finishVolumes(ctx, 'r-fail', 'fail');
    const done = await untilDone(ctx, 'r-fail');
    expect(done.status?.phase).toBe('PartiallyFailed');
    expect(await log('fail')).toBe('rows-of-fail\n');
    const hooks = condition(done, 'HooksSucceeded');
    expect(hooks).toMatchObject({ status: 'False', reason: 'HookFailed' });
    expect(hooks?.message).toMatch(/restore hook of pod rhooks\/fail in container db exited with code 4; stderr ends: pg_restore: relation exists \(exit code 4, on-error Fail\)/);
    expect(condition(done, 'Failed')).toMatchObject({ status: 'True', reason: 'HookFailed' });
    expect((await events('fail')).find((e) => e.reason === 'PostRestoreHookFailed')?.type).toBe('Warning');
    expect((await events('r-fail')).find((e) => e.reason === 'PartiallyFailed')?.message).toMatch(/a restore hook failed/);
  });

  it('on-error Continue: a failing hook is reported and the Restore is Completed', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-cont');
    await restoredPod(restore, 'cont', { 'post.hook.restore.ferry.dev/command': sh('exit 9'), 'post.hook.restore.ferry.dev/on-error': 'Continue' });
    await reconcileRestoredPod(ctx, NS, 'cont');
    await finishVolumes(ctx, 'r-cont', 'cont');
    const done = await untilDone(ctx, 'r-cont');
    expect(done.status?.phase).toBe('Completed');
    expect(condition(done, 'HooksSucceeded')).toMatchObject({ status: 'False', reason: 'HookFailed' });
    expect(condition(done, 'HooksSucceeded')?.message).toMatch(/exit code 9, on-error Continue/);
    expect(condition(done, 'Failed')).toBeUndefined();
  });

  it('waits for the container to run, and fails the hook when it does not within wait-timeout', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-wait');
    await restoredPod(restore, 'wait', { 'post.hook.restore.ferry.dev/command': sh('echo ran >> log'), 'post.hook.restore.ferry.dev/wait-timeout': '2m' }, 'waiting');
    await reconcileRestoredPod(ctx, NS, 'wait');
    await finishVolumes(ctx, 'r-wait', 'wait');
    const started = clock.now();
    const done = await untilDone(ctx, 'r-wait', { advance: (ms) => clock.advance(ms), advanceMs: 10_000 });
    // It waited the wait-timeout on the coordinator's clock before giving up.
    expect(clock.now() - started).toBeGreaterThanOrEqual(120_000);
    expect(done.status?.phase).toBe('PartiallyFailed');
    expect(await log('wait')).toBe('');
    expect(condition(done, 'HooksSucceeded')?.message).toMatch(/restore hook of pod rhooks\/wait: container db did not run within the wait-timeout of 120 s after the pod's volumes were restored/);
  });

  it('a container that starts within wait-timeout gets the hook', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-late');
    await restoredPod(restore, 'late', { 'post.hook.restore.ferry.dev/command': sh('echo ran >> log') }, 'waiting');
    await reconcileRestoredPod(ctx, NS, 'late');
    await finishVolumes(ctx, 'r-late', 'late');
    expect((await step(ctx, 'r-late')).status?.phase).toBe('InProgress');
    await setApp('late', 'running');
    const done = await untilDone(ctx, 'r-late', { advance: (ms) => clock.advance(ms), advanceMs: 1_000 });
    expect(done.status?.phase).toBe('Completed');
    expect(await log('late')).toBe('ran\n');
  });

  it('a pod whose volumes failed does not get its hook: Skipped, HooksSucceeded=False HookSkipped', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-lost');
    await restoredPod(restore, 'lost', { 'post.hook.restore.ferry.dev/command': sh('echo ran >> log') });
    await reconcileRestoredPod(ctx, NS, 'lost');
    await finishVolumes(ctx, 'r-lost', 'lost', 'Failed');
    const done = await untilDone(ctx, 'r-lost');
    expect(done.status?.phase).toBe('Failed');
    expect(await log('lost')).toBe('');
    expect(condition(done, 'HooksSucceeded')).toMatchObject({ status: 'False', reason: 'HookSkipped' });
    expect(condition(done, 'HooksSucceeded')?.message).toBe('1 not run: the restore hook of pod rhooks/lost was not run: volume(s) data (Failed), logs (Failed) were not restored');
    expect((await hookRecords(ctx, 'r-lost'))[0]).toMatchObject({ outcome: 'Skipped' });
  });

  it('a malformed hook command is a failed hook at once (never run); a bad companion annotation is a Warning Event and the safe reading', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-bad');
    await restoredPod(restore, 'bad', { 'post.hook.restore.ferry.dev/command': '["pg_restore",' });
    await reconcileRestoredPod(ctx, NS, 'bad');
    expect((await hookRecords(ctx, 'r-bad'))[0]).toMatchObject({ outcome: 'Failed', onError: 'Fail', exitCode: -1 });
    await finishVolumes(ctx, 'r-bad', 'bad');
    const done = await untilDone(ctx, 'r-bad');
    expect(done.status?.phase).toBe('PartiallyFailed');
    expect(condition(done, 'HooksSucceeded')?.message).toMatch(/annotation post\.hook\.restore\.ferry\.dev\/command="\[\\"pg_restore\\",": expected a JSON array/);

    const r2 = await restoreOf(ctx, 'r-typo');
    await restoredPod(r2, 'typo', { 'post.hook.restore.ferry.dev/command': sh('echo ran >> log'), 'post.hook.restore.ferry.dev/on-error': 'Ignore' });
    await reconcileRestoredPod(ctx, NS, 'typo');
    await finishVolumes(ctx, 'r-typo', 'typo');
    expect((await untilDone(ctx, 'r-typo')).status?.phase).toBe('Completed');
    expect(await log('typo')).toBe('ran\n');
    expect((await events('typo')).find((e) => e.reason === 'MalformedAnnotation')?.message).toMatch(/post\.hook\.restore\.ferry\.dev\/on-error="Ignore": expected Continue or Fail/);
  });

  it('spec.hooks Skip: the declared hook does not run and nothing is recorded', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-skip', { hooks: 'Skip' });
    await restoredPod(restore, 'skip', { 'post.hook.restore.ferry.dev/command': sh('echo ran >> log') });
    await reconcileRestoredPod(ctx, NS, 'skip');
    await finishVolumes(ctx, 'r-skip', 'skip');
    const done = await untilDone(ctx, 'r-skip');
    expect(done.status?.phase).toBe('Completed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await log('skip')).toBe('');
    expect(await hookRecords(ctx, 'r-skip')).toEqual([null, null]);
    expect(condition(done, 'HooksSucceeded')).toBeUndefined();
  });

  it('a pod without a restore hook gets no hook state and no HooksSucceeded condition', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const restore = await restoreOf(ctx, 'r-none');
    await restoredPod(restore, 'none', {});
    await reconcileRestoredPod(ctx, NS, 'none');
    await finishVolumes(ctx, 'r-none', 'none');
    const done = await untilDone(ctx, 'r-none');
    expect(done.status?.phase).toBe('Completed');
    expect(await hookRecords(ctx, 'r-none')).toEqual([null, null]);
    expect(condition(done, 'HooksSucceeded')).toBeUndefined();
  });
});
