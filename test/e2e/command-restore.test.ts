/**
 * End to end: a backup command's output comes back through a Restore into a target pod's
 * volume. A pod's `backup.ferry.dev/backup-command` is streamed into a snapshot by the
 * coordinator; after the pod is gone, a Restore and a recreated pod that names a volume in
 * `backup.ferry.dev/backup-command-restore-volume` get the file written there by the agent
 * (behind restore-wait), byte for byte. Real kube-apiserver (exec proxied to the fake
 * kubelet's streaming port), coordinator, agent and RGW.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'pg';
let cluster: E2eCluster;

/** 3 MiB of deterministic "dump" the command prints (awk, so the expected bytes are computed here too). */
const DUMP_LINES = 60_000;
const dumpScript = `awk 'BEGIN { for (i = 0; i < ${DUMP_LINES}; i++) printf "INSERT INTO orders VALUES (%d, %d, %d);\\n", i, i * 7 % 1000, i * 13 % 97 }'`;
function expectedDump(): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < DUMP_LINES; i++) lines.push(`INSERT INTO orders VALUES (${i}, ${(i * 7) % 1000}, ${(i * 13) % 97});\n`);
  return Buffer.from(lines.join(''));
}

function dbPod(extraAnnotations: Record<string, string>): V1Pod {
  return {
    metadata: {
      name: 'db',
      namespace: NS,
      annotations: { 'backup.ferry.dev/backup-command': JSON.stringify(['/bin/sh', '-c', dumpScript]), 'backup.ferry.dev/backup-command-container': 'postgres', 'backup.ferry.dev/file-extension': 'sql', ...extraAnnotations },
    },
    spec: { containers: [{ name: 'postgres', image: 'postgres:16' }], volumes: [{ name: 'restore', emptyDir: {} }] },
  };
}

beforeAll(async () => {
  // The real API server proxies the coordinator's exec to the fake kubelet's streaming port.
  cluster = await startOwnedCluster({ name: 'cmd-restore', nodes: ['node-a'], namespaces: [NS], prefix: 'cmd' });
}, 120_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('backup command output restored into a pod volume', () => {
  it('writes <pod>-<container>.<ext> into the volume the recreated pod names, with the exact bytes', async () => {
    await cluster.core.createNamespacedPod({ namespace: NS, body: dbPod({}) });
    await cluster.runningPods(NS, 1);
    await cluster.create('backups', { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'dump' }, spec: {} }, NS);
    const backup = await cluster.waitPhase('backups', 'dump', NS, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
    expect(backup.status?.['phase'], JSON.stringify(backup.status)).toBe('Completed');
    const [pvb] = await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=dump');
    expect(pvb?.spec['volume']).toMatchObject({ kind: 'command', command: { container: 'postgres', fileName: 'db-postgres.sql' } });

    await cluster.core.deleteNamespacedPod({ namespace: NS, name: 'db', gracePeriodSeconds: 0 });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS })).items.length === 0, 30_000, 'the pod to go');
    await cluster.create('restores', { apiVersion: 'ferry.dev/v1alpha1', kind: 'Restore', metadata: { name: 'back' }, spec: { backupName: 'dump' } }, NS);
    await cluster.waitPhase('restores', 'back', NS, ['InProgress'], 30_000);
    await cluster.core.createNamespacedPod({ namespace: NS, body: dbPod({ 'backup.ferry.dev/backup-command-restore-volume': 'restore' }) });

    const restore = await cluster.waitPhase('restores', 'back', NS, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
    expect(restore.status?.['phase'], JSON.stringify(restore.status)).toBe('Completed');
    const [pod] = await cluster.runningPods(NS, 1);
    expect(pod!.spec?.initContainers?.[0]?.name).toBe('ferry-restore-wait');
    const dir = cluster.volumeDir(pod!, 'restore');
    expect((await readdir(dir)).filter((f) => f !== '.ferry')).toEqual(['db-postgres.sql']);
    const restored = await readFile(join(dir, 'db-postgres.sql'));
    const expected = expectedDump();
    expect(restored.length).toBe(expected.length);
    expect(createHash('sha256').update(restored).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));
  }, 180_000);
});
