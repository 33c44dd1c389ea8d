/**
 * End to end: path excludes inside a volume. A Backup's spec.excludes and the pod's
 * backup.ferry.dev/exclude-paths annotation reach the agent, and both movers skip the same
 * paths: after the pod is recreated and restored, the excluded paths are absent and
 * everything else is back. Then the coordinator's ferry_backup_last_success_timestamp_seconds
 * shows both namespaces, and still does after the agent is killed and restarted. One namespace per mover (a repository keeps its mover). Real
 * kube-apiserver (the CRD schema checks the new fields), coordinator, agent and RGW.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster } from './cluster.fixture.js';
import { CLUSTER_KEY_FIELD, CLUSTER_KEY_SECRET } from '../../packages/coordinator/src/repositories.js';
import { freePort, waitFor } from './processes.fixture.js';

let cluster: E2eCluster;
let metricsPort: number;

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
  metricsPort = await freePort();
  cluster = await startOwnedCluster({ name: 'excludes', nodes: ['node-a'], namespaces: ['native-ns', 'restic-ns'], prefix: 'excludes', coordinatorArgs: ['--listen', `127.0.0.1:${metricsPort}`] });
  // A cluster key with a NUL byte and non-UTF-8 bytes: restic must still work (its password
  // is derived from the key as text, never the raw bytes).
  const key = Buffer.from([0x00, 0xff, ...Array.from({ length: 30 }, (_, i) => (i * 41 + 3) & 0xff)]);
  await cluster.core.createNamespacedSecret({ namespace: 'ferry-system', body: { metadata: { name: CLUSTER_KEY_SECRET }, type: 'Opaque', data: { [CLUSTER_KEY_FIELD]: key.toString('base64') } } });
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

describe('the coordinator\'s last-success metric', () => {
  const lastSuccess = async (): Promise<string[]> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('ferry_backup_last_success_timestamp_seconds{')).map((l) => l.replace(/ \d+$/, ' <t>')).sort();
  };
  const expected = ['ferry_backup_last_success_timestamp_seconds{namespace="native-ns",schedule=""} <t>', 'ferry_backup_last_success_timestamp_seconds{namespace="restic-ns",schedule=""} <t>'];

  it('shows each namespace\'s completed backup, from the Backup objects: an agent restart does not reset it', async () => {
    expect(await lastSuccess()).toEqual(expected);
    const agent = cluster.agents.get('node-a')!;
    agent.child.kill('SIGKILL');
    await agent.exited;
    cluster.startAgent('node-a');
    expect(await lastSuccess()).toEqual(expected);
  }, 60_000);
});
