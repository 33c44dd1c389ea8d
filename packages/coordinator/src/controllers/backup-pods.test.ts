/**
 * Backup spec.pods (what the API's CreateBackup with explicit pod volumes writes): only the
 * named pods, exactly their listed volumes whatever the annotations say (exclusions still
 * win), every volume that can be backed up when none are listed, and a missing pod reported
 * as skipped with PodNotFound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { testContext } from '../context.fixture.js';
import type { BackupObject, PvbObject } from '../objects.js';
import { reconcileBackup } from './backup.js';
import { commit } from './commit.js';

let api: FakeApiServer;

beforeAll(async () => {
  api = await FakeApiServer.start({ namespaces: ['default', 'ferry-system', 'shop'] });
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  const { kube } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'nfs' }, spec: { default: true, filesystem: { path: '/backups' } } } });
  const volumes = [{ name: 'data', emptyDir: {} }, { name: 'logs', emptyDir: {} }, { name: 'scratch', emptyDir: {} }];
  for (const name of ['db-0', 'web-1', 'other']) {
    const pod = await core.createNamespacedPod({ namespace: 'shop', body: { metadata: { name, annotations: { 'backup.ferry.dev/backup-volumes': 'scratch' } }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x' }], volumes } } });
    await core.replaceNamespacedPodStatus({ namespace: 'shop', name, body: { ...pod, status: { phase: 'Running' } } });
  }
});

afterAll(() => api.stop());

describe('Backup spec.pods', () => {
  it('backs up only the named pods: listed volumes exactly, all volumes when none are listed; a missing pod is skipped as PodNotFound', async () => {
    const { ctx } = testContext(api.kubeConfig());
    await ctx.cluster.createOrGet<BackupObject>('Backup', {
      metadata: { name: 'explicit', namespace: 'shop' },
      spec: { pods: [{ name: 'db-0', volumes: ['data'] }, { name: 'web-1' }, { name: 'gone' }], excludeVolumes: ['logs'] },
    });
    // The first pass adds the finalizer, the next selects volumes.
    for (let i = 0; i < 3; i++) {
      const fresh = (await ctx.cluster.get<BackupObject>('Backup', 'shop', 'explicit'))!;
      await commit(ctx, 'Backup', fresh, await reconcileBackup(ctx, fresh));
    }
    const pvbs = await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=explicit');
    expect(pvbs.map((p) => `${p.spec.pod.name}/${p.spec.volume.name}`).sort()).toEqual(['db-0/data', 'web-1/data', 'web-1/scratch']);
    const status = (await ctx.cluster.get<BackupObject>('Backup', 'shop', 'explicit'))?.status;
    expect(status?.skippedVolumes).toContainEqual(expect.objectContaining({ pod: 'gone', reason: 'PodNotFound', message: 'pod shop/gone named in spec.pods does not exist' }));
  });
});
