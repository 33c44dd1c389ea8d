/**
 * End to end: restore hooks (`post.hook.restore.ferry.dev/*`) on the real kube-apiserver.
 * Three pods' `data` volumes are backed up; each pod is then deleted and recreated under a
 * Restore of its snapshot. Restore-wait holds the pod until the agent restored the volume;
 * the coordinator then execs the hook through the API server into the fake kubelet, where
 * it runs as a real process in the pod's fake root: it reads the restored file (so it can
 * only succeed after the data is back) and appends it to a marker file. Real coordinator,
 * agent and RGW; `ferry restore describe` (the real CLI over the public API) lists the hooks.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { assertBuilt, ferry } from '../../packages/cli/src/cli.fixture.js';
import { disposeOwnedCluster, startOwnedCluster, type Cr, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'shop';
const TOKEN = 'alice-token-for-the-restore-hooks-e2e';
let cluster: E2eCluster;

/** The hook: the restored dump, replayed into `replayed` in the pod's root ($DATA is the data volume, set by the fake kubelet). */
const REPLAY = 'cat "$DATA/orders.sql" >> replayed';

function appPod(name: string, hook: Record<string, string>): V1Pod {
  return {
    metadata: { name, namespace: NS, labels: { app: name }, annotations: { 'backup.ferry.dev/backup-volumes': 'data', ...hook } },
    spec: { containers: [{ name: 'app', image: 'busybox:1.36' }, { name: 'db', image: 'postgres:16' }], volumes: [{ name: 'data', emptyDir: {} }] },
  };
}

const HOOKS: Record<string, Record<string, string>> = {
  ok: { 'post.hook.restore.ferry.dev/command': REPLAY, 'post.hook.restore.ferry.dev/container': 'db', 'post.hook.restore.ferry.dev/timeout': '20s' },
  fail: { 'post.hook.restore.ferry.dev/command': `${REPLAY}; echo "psql: relation orders exists" >&2; exit 3` },
  cont: { 'post.hook.restore.ferry.dev/command': `${REPLAY}; exit 5`, 'post.hook.restore.ferry.dev/on-error': 'Continue' },
};

/** Snapshot id per pod, from the Backup's PodVolumeBackups. */
const snapshots = new Map<string, string>();

beforeAll(async () => {
  await assertBuilt();
  const auth = { tokens: { [TOKEN]: { username: 'alice', groups: ['shop-admins'] } }, policy: [{ users: ['alice'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'], namespaces: [NS] }] };
  cluster = await startOwnedCluster({
    name: 'restore-hooks', nodes: ['node-a'], namespaces: [NS], prefix: 'rhooks', auth,
    execTarget: (r) => ({ env: { DATA: join(r.rootDir, '..', 'volumes', 'kubernetes.io~empty-dir', 'data') } }),
  });
  for (const [name, hook] of Object.entries(HOOKS)) await cluster.core.createNamespacedPod({ namespace: NS, body: appPod(name, hook) });
  for (const pod of await cluster.runningPods(NS, 3)) await writeFile(join(cluster.volumeDir(pod, 'data'), 'orders.sql'), `INSERT INTO orders VALUES ('${pod.metadata!.name}');\n`);
  await cluster.create('backups', { kind: 'Backup', metadata: { name: 'nightly' }, spec: {} }, NS);
  const backup = await cluster.waitPhase('backups', 'nightly', NS, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
  if (backup.status?.['phase'] !== 'Completed') throw new Error(`backup nightly: ${JSON.stringify(backup.status)}`);
  for (const p of await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=nightly')) snapshots.set(p.spec['pod'].name, p.status?.['snapshotId']);
  for (const name of Object.keys(HOOKS)) await cluster.core.deleteNamespacedPod({ namespace: NS, name, gracePeriodSeconds: 0 });
  await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS })).items.length === 0, 30_000, 'the pods to go');
}, 240_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

/** Restores one pod's snapshot into the pod, recreated with its hook annotations; returns the ended Restore and the pod. */
async function restorePod(name: string): Promise<{ restore: Cr; pod: V1Pod }> {
  const snapshot = { snapshotId: snapshots.get(name), location: 'rgw', namespace: NS, volume: 'data', pod: name };
  await cluster.create('restores', { kind: 'Restore', metadata: { name: `r-${name}` }, spec: { snapshots: [snapshot] } }, NS);
  await cluster.waitPhase('restores', `r-${name}`, NS, ['InProgress'], 30_000);
  await cluster.core.createNamespacedPod({ namespace: NS, body: appPod(name, HOOKS[name]!) });
  const restore = await cluster.waitPhase('restores', `r-${name}`, NS, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
  const pod = await cluster.core.readNamespacedPod({ namespace: NS, name });
  return { restore, pod };
}

const replayed = async (pod: V1Pod) => readFile(join(await cluster.rootDir(pod), 'replayed'), 'utf8').catch(() => '');
const condition = (r: Cr, type: string) => (r.status?.['conditions'] as { type: string; status: string; reason: string; message: string }[] | undefined)?.find((c) => c.type === type);
const reasons = async (involved: string): Promise<string[]> => (await cluster.core.listNamespacedEvent({ namespace: NS })).items.filter((e: CoreV1Event) => e.involvedObject.name === involved).map((e) => e.reason ?? '');

describe('restore hooks', () => {
  it('run once in the chosen container after the data is back: the hook reads the restored file', async () => {
    const { restore, pod } = await restorePod('ok');
    expect(restore.status?.['phase'], JSON.stringify(restore.status)).toBe('Completed');
    expect(pod.spec?.initContainers?.[0]?.name).toBe('ferry-restore-wait');
    expect(await replayed(pod)).toBe("INSERT INTO orders VALUES ('ok');\n");
    expect(condition(restore, 'HooksSucceeded')).toMatchObject({ status: 'True', reason: 'HooksSucceeded' });
    const [pvr] = await cluster.list('podvolumerestores', NS, 'ferry.dev/restore=r-ok');
    expect(JSON.parse(pvr!.metadata.annotations?.['ferry.dev/restore-hook'] ?? '{}')).toMatchObject({ outcome: 'Succeeded', container: 'db', exitCode: 0 });
    expect(await reasons('ok')).toContain('PostRestoreHookSucceeded');
    expect(await reasons('r-ok')).toContain('PostRestoreHookSucceeded');
    // The coordinator keeps reconciling (resyncs, pod events); the recorded outcome keeps the hook from running again.
    await cluster.core.patchNamespacedPod({ namespace: NS, name: 'ok', body: [{ op: 'add', path: '/metadata/labels/touched', value: 'yes' }] });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await replayed(pod)).toBe("INSERT INTO orders VALUES ('ok');\n");
  }, 150_000);

  it('on-error Fail: a failing hook makes the Restore PartiallyFailed with HookFailed (the data is back)', async () => {
    const { restore, pod } = await restorePod('fail');
    expect(restore.status?.['phase'], JSON.stringify(restore.status)).toBe('PartiallyFailed');
    expect(await replayed(pod)).toBe("INSERT INTO orders VALUES ('fail');\n");
    expect(restore.status?.['counts']).toMatchObject({ total: 1, completed: 1, failed: 0 });
    const hooks = condition(restore, 'HooksSucceeded');
    expect(hooks).toMatchObject({ status: 'False', reason: 'HookFailed' });
    expect(hooks?.message).toMatch(/restore hook of pod shop\/fail in container app exited with code 3; stderr ends: psql: relation orders exists \(exit code 3, on-error Fail\)/);
    expect(condition(restore, 'Failed')).toMatchObject({ status: 'True', reason: 'HookFailed' });
    expect(await reasons('fail')).toContain('PostRestoreHookFailed');
    const described = await ferry(['restore', 'describe', 'r-fail', '-n', NS, '--server', cluster.apiAddress, '--ca', cluster.caFile], { env: { FERRY_TOKEN: TOKEN } });
    expect(described.exitCode, described.stderr).toBe(0);
    expect(described.out).toMatch(/^Restore hooks:\n\s+NAMESPACE\s+POD\s+CONTAINER\s+OUTCOME\s+EXIT\s+ON-ERROR\s+MESSAGE\n\s+shop\s+fail\s+app\s+Failed\s+3\s+Fail\s+restore hook of pod shop\/fail in container app exited with code 3/m);
  }, 150_000);

  it('on-error Continue: the Restore is Completed and the failed hook reported', async () => {
    const { restore, pod } = await restorePod('cont');
    expect(restore.status?.['phase'], JSON.stringify(restore.status)).toBe('Completed');
    expect(await replayed(pod)).toBe("INSERT INTO orders VALUES ('cont');\n");
    expect(condition(restore, 'HooksSucceeded')).toMatchObject({ status: 'False', reason: 'HookFailed' });
    expect(condition(restore, 'HooksSucceeded')?.message).toMatch(/exited with code 5.*on-error Continue/);
    expect(await reasons('r-cont')).toContain('PostRestoreHookFailed');
  }, 150_000);
});
