/**
 * End to end: repository maintenance through a real coordinator process and real agent
 * processes (mutual TLS) on a repository in the run's RGW. Two Backups of a StatefulSet
 * (two volumes each) write four snapshots; a check requested with the API's annotation
 * (100% read-data) is run by one agent and lands in the BackupRepository's status as
 * Succeeded, with the snapshot count of the backups taken, the repository size and the
 * request it served. (The metrics are checked in packages/coordinator/src/maintenance.)
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { MAINTENANCE_ANNOTATIONS } from '../../packages/api/src/index.js';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster, fillVolume, SYS } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'shop';
let root: string;
let cluster: E2eCluster;

beforeAll(async () => {
  cluster = await startOwnedCluster({ name: 'maint', nodes: ['node-a', 'node-b'], namespaces: [NS], prefix: 'maintenance' });
  root = cluster.o.root;
}, 120_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('repository maintenance end to end', () => {
  it('a requested check runs on an agent and records Succeeded with the snapshot count of the backups taken', async () => {
    await cluster.createStatefulSet(NS, 'db');
    const [pod] = await cluster.runningPods(NS, 1);
    for (const v of ['cache', 'data']) await fillVolume(cluster.volumeDir(pod!, v), v, 50);
    for (const name of ['first', 'second']) {
      for (const v of ['cache', 'data']) await writeFile(join(cluster.volumeDir(pod!, v), `${name}.txt`), `${name} ${v}\n`);
      await cluster.create('backups', { kind: 'Backup', metadata: { name }, spec: {} }, NS);
      const done = await cluster.waitPhase('backups', name, NS, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
      expect(done.status!.phase, JSON.stringify(done.status)).toBe('Completed');
    }
    const snapshots = (await cluster.list('podvolumebackups', NS)).filter((p) => p.status?.snapshotId).length;
    expect(snapshots).toBe(4);

    const [repo] = await cluster.list('backuprepositories', SYS);
    const name = repo!.metadata.name;
    const requested = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await cluster.custom.patchNamespacedCustomObject(
      { group: 'ferry.dev', version: 'v1alpha1', namespace: SYS, plural: 'backuprepositories', name, body: { metadata: { annotations: { [MAINTENANCE_ANNOTATIONS.checkRequested]: requested, [MAINTENANCE_ANNOTATIONS.checkReadDataPercent]: '100' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    const checked = await waitFor(async () => {
      const r = await cluster.get('backuprepositories', name, SYS);
      return r.status?.lastCheck?.requestedAt === requested && r;
    }, 60_000, `BackupRepository ${name} to record the requested check`);
    const status = checked.status!;
    expect(status.lastCheck, JSON.stringify(status)).toMatchObject({ result: 'Succeeded', errors: 0, readDataPercent: 100 });
    expect(['node-a', 'node-b']).toContain(status.lastCheck.node);
    expect(status.snapshotCount).toBe(snapshots);
    expect(status.sizeBytes).toBeGreaterThan(0);
    expect(status.maintenanceJob).toBeUndefined();
    expect(status.conditions.find((c: { type: string }) => c.type === 'Checked')).toMatchObject({ status: 'True', reason: 'CheckPassed' });
    expect(Date.parse(status.nextCheckTime)).toBeGreaterThan(Date.now() + 160 * 3600_000);
  });
});
