/**
 * End to end: path excludes inside a volume. A Backup's spec.excludes and the pod's
 * backup.ferry.dev/exclude-paths annotation reach the agent, and both movers skip the same
 * paths: after the pod is recreated and restored, the excluded paths are absent and
 * everything else is back. One namespace per mover (a repository keeps its mover). Real
 * kube-apiserver (the CRD schema checks the new fields), coordinator, agent and RGW.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

let cluster: E2eCluster;

const FILES: Record<string, string> = {
  'keep.txt': 'kept',
  'cache/blob': 'excluded by the Backup (a name at any depth)',
  'deep/cache/blob': 'excluded by the Backup too',
  'tmp/scratch': 'excluded by the annotation (anchored at the root)',
  'deep/tmp/kept': 'kept: /tmp is anchored',
  'app.log': 'excluded by the annotation',
  'deep/old.log': 'excluded by the annotation (** crosses directories)',
  'deep/data.db': 'kept',
};
const KEPT = ['deep/data.db', 'deep/tmp/kept', 'keep.txt'];

function pod(namespace: string): V1Pod {
  return {
    metadata: { name: 'app', namespace, annotations: { 'backup.ferry.dev/backup-volumes': 'data', 'backup.ferry.dev/exclude-paths': '/tmp, **/*.log' } },
    spec: { containers: [{ name: 'app', image: 'busybox:1.36' }], volumes: [{ name: 'data', emptyDir: {} }] },
  };
}

async function files(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    if (e.name === '.ferry') continue;
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await files(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

beforeAll(async () => {
  cluster = await startOwnedCluster({ name: 'excludes', nodes: ['node-a'], namespaces: ['native-ns', 'restic-ns'], prefix: 'excludes' });
}, 180_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe.each([
  { mover: 'native', ns: 'native-ns' },
  { mover: 'restic', ns: 'restic-ns' },
])('path excludes with the $mover mover', ({ mover, ns }) => {
  it('leaves the excluded paths out of the snapshot: absent after the restore, the rest identical', async () => {
    await cluster.core.createNamespacedPod({ namespace: ns, body: pod(ns) });
    const [running] = await cluster.runningPods(ns, 1);
    const dir = cluster.volumeDir(running!, 'data');
    for (const [path, content] of Object.entries(FILES)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    await cluster.create('backups', { kind: 'Backup', metadata: { name: 'b' }, spec: { mover, excludes: ['cache'] } }, ns);
    const backup = await cluster.waitPhase('backups', 'b', ns, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
    expect(backup.status?.['phase'], JSON.stringify(backup.status)).toBe('Completed');
    const [pvb] = await cluster.list('podvolumebackups', ns, 'ferry.dev/backup=b');
    expect(pvb?.spec['excludes']).toEqual(['cache', '/tmp', '**/*.log']);
    expect(pvb?.spec['mover']).toBe(mover);

    await cluster.core.deleteNamespacedPod({ namespace: ns, name: 'app', gracePeriodSeconds: 0 });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: ns })).items.length === 0, 30_000, 'the pod to go');
    await cluster.create('restores', { kind: 'Restore', metadata: { name: 'r' }, spec: { backupName: 'b' } }, ns);
    await cluster.waitPhase('restores', 'r', ns, ['InProgress'], 30_000);
    await cluster.core.createNamespacedPod({ namespace: ns, body: pod(ns) });
    const restore = await cluster.waitPhase('restores', 'r', ns, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
    expect(restore.status?.['phase'], JSON.stringify(restore.status)).toBe('Completed');
    const [restored] = await cluster.runningPods(ns, 1);
    expect(await files(cluster.volumeDir(restored!, 'data'))).toEqual(KEPT);
  }, 240_000);
});

describe('a malformed exclude', () => {
  it('is refused by the CRD schema with the field named', async () => {
    const refused = await cluster.create('backups', { kind: 'Backup', metadata: { name: 'bad' }, spec: { excludes: ['a,b'] } }, 'native-ns').then(() => undefined, (err: Error) => err);
    expect(String((refused as { body?: unknown })?.body ?? refused)).toMatch(/spec\.excludes\[0\]/);
  }, 30_000);
});
