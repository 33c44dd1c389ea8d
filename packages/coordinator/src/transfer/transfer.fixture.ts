/**
 * Test support (not product): a finished Backup on a cluster without agents — a native
 * repository at the cluster's location (its own master key, wrapped by the cluster key),
 * one real snapshot per volume, and a Completed Backup with Completed PodVolumeBackups that
 * hold the snapshot ids, as the controllers would have left them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NativeMover } from '@ferry/mover';
import { Repository } from '@ferry/repository';
import type { ClusterState } from '../cluster/cluster-state.js';
import type { BackupObject, PvbObject } from '../objects.js';
import { storeOf } from '../purge.js';
import type { LocationObject, Repositories } from '../repositories.js';

export interface SeedOptions {
  readonly cluster: ClusterState;
  readonly repositories: Repositories;
  readonly location: string;
  readonly namespace: string;
  readonly name: string;
  /** volume name → the content of its one file. */
  readonly files: Readonly<Record<string, string>>;
  /** Where the volumes' source directories are made. */
  readonly scratch: string;
}

export interface Seeded {
  readonly snapshotIds: string[];
  /** The repository's master key: only for looking for it where it must not be. */
  readonly master: Buffer;
}

export async function seedBackup(o: SeedOptions): Promise<Seeded> {
  const loc = (await o.cluster.get<LocationObject>('BackupLocation', '', o.location))!;
  const repo = await o.repositories.ensure(loc, o.namespace, 'native');
  const access = await o.repositories.jobRepository(repo.metadata.name!, { initialize: true });
  const store = storeOf(access);
  const credential = { kind: 'cluster' as const, key: Buffer.from(access.key!.clusterKey!) };
  if (!(await store.stat('config'))) await Repository.init({ store, credential });
  const opened = await Repository.open({ store, credential, workers: 1 });
  const master = Buffer.from(opened.secrets.master);
  await opened.close();
  const mover = new NativeMover({ store, credential, workers: 1 });
  const backup = await o.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: o.name, namespace: o.namespace }, spec: {} });
  await o.cluster.replaceStatus('Backup', backup, { phase: 'Completed', completionTimestamp: '2024-05-01T10:00:00Z' });
  const snapshotIds: string[] = [];
  for (const [i, [volume, content]] of Object.entries(o.files).entries()) {
    const src = join(o.scratch, o.namespace, volume);
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'file.txt'), content);
    const { snapshotId } = await mover.backup({ source: { kind: 'directory', path: src }, identity: { kind: 'pod', namespace: o.namespace, pod: 'app-0', volume } });
    const pvb = await o.cluster.createOrGet<PvbObject>('PodVolumeBackup', {
      metadata: { name: `${o.name}-${i}`, namespace: o.namespace, labels: { 'ferry.dev/backup': o.name } },
      spec: { backup: o.name, pod: { namespace: o.namespace, name: 'app-0', uid: 'pod-uid-1', controller: { kind: 'StatefulSet', name: 'app' } }, node: 'node-a', volume: { name: volume, kind: 'emptyDir' }, repository: repo.metadata.name!, mover: 'native' },
    });
    await o.cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId, completionTimestamp: '2024-05-01T10:00:00Z' });
    snapshotIds.push(snapshotId);
  }
  return { snapshotIds, master };
}
