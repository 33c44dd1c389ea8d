import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { FakeApiServer } from '../../../test/fake-cluster/index.js';
import { testContext } from './context.fixture.js';
import type { PvbObject, RestoreObject } from './objects.js';
import { admitPod, reviewPod, type AdmissionReview } from './webhook.js';

let api: FakeApiServer;
let restore: RestoreObject;

beforeAll(async () => {
  api = await FakeApiServer.start();
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'shop' } } });
  const { ctx } = testContext(api.kubeConfig());
  await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', {
    metadata: { name: 'b1-x', namespace: 'shop', labels: { 'ferry.dev/backup': 'b1' } },
    spec: { backup: 'b1', pod: { namespace: 'shop', name: 'db-0', uid: 'u1', controller: { kind: 'StatefulSet', name: 'db' } }, node: 'n', volume: { name: 'data', kind: 'persistentVolumeClaim', pvc: { name: 'data-db-0', uid: 'c1' }, pvName: 'pv1' }, repository: 'r', mover: 'native' },
  });
  await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', {
    metadata: { name: 'b1-y', namespace: 'shop', labels: { 'ferry.dev/backup': 'b1' } },
    spec: { backup: 'b1', pod: { namespace: 'shop', name: 'db-0', uid: 'u1', controller: { kind: 'StatefulSet', name: 'db' } }, node: 'n', volume: { name: 'cache', kind: 'emptyDir' }, repository: 'r', mover: 'native' },
  });
  for (const [name, snap] of [['b1-x', 'a'], ['b1-y', 'b']] as const) {
    const p = (await ctx.cluster.get<PvbObject>('PodVolumeBackup', 'shop', name))!;
    await ctx.cluster.replaceStatus('PodVolumeBackup', p, { phase: 'Completed', snapshotId: snap.repeat(64) });
  }
  restore = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'r1', namespace: 'shop' }, spec: { backupName: 'b1' } });
  restore = { ...restore, status: { phase: 'InProgress' } };
});

afterAll(async () => {
  await api.stop();
});

function review(pod: V1Pod, uid = 'req-1'): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: pod } };
}

const dbPod = (initContainers?: V1Pod['spec'] extends infer S ? S extends { initContainers?: infer I } ? I : never : never): V1Pod => ({
  metadata: { name: 'db-0', labels: { app: 'db' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'sts', controller: true }] },
  spec: { containers: [{ name: 'db', image: 'postgres' }], ...(initContainers ? { initContainers } : {}), volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } }, { name: 'cache', emptyDir: {} }, { name: 'config', configMap: { name: 'c' } }] },
});

function decode(patch: string | undefined): { op: string; path: string; value: any }[] {
  return JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8'));
}

describe('restore-wait webhook', () => {
  it('prepends restore-wait with a mount and an argument per matched volume, and labels the pod', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const out = await reviewPod({ ctx, pendingRestores: () => [restore] }, review(dbPod([{ name: 'istio-init', image: 'istio' }])));
    expect(out.result).toBe('patched');
    expect(out.response).toMatchObject({ uid: 'req-1', allowed: true, patchType: 'JSONPatch' });
    const ops = decode(out.response.patch);
    const init = ops.find((o) => o.path === '/spec/initContainers/0')!.value;
    expect(init.name).toBe('ferry-restore-wait');
    expect(init.args).toEqual(['--restore-uid', restore.metadata.uid, '--timeout', '18000s', '/ferry-restore/data', '/ferry-restore/cache']);
    expect(init.volumeMounts.map((m: { name: string }) => m.name)).toEqual(['data', 'cache']);
    expect(init.resources.requests).toEqual({ cpu: '10m', memory: '64Mi' });
    expect(ops).toContainEqual({ op: 'add', path: '/metadata/labels/restore.ferry.dev~1restore', value: 'r1' });
    const volumes = ops.find((o) => o.path === '/metadata/annotations/restore.ferry.dev~1volumes')!.value;
    expect(JSON.parse(volumes)).toEqual({ data: 'b1-x', cache: 'b1-y' });
  });

  it('waits for a block volume (volumeDevices) in a directory of an added marker emptyDir instead of mounting the device', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const pod = dbPod();
    pod.spec!.containers[0]!.volumeDevices = [{ name: 'data', devicePath: '/dev/xvda' }];
    const ops = decode((await reviewPod({ ctx, pendingRestores: () => [restore] }, review(pod))).response.patch);
    const init = ops.find((o) => o.path === '/spec/initContainers')!.value[0];
    expect(init.args.slice(-2)).toEqual(['/ferry-restore/data', '/ferry-restore/cache']);
    expect(init.volumeMounts).toEqual([
      { name: 'ferry-restore-markers', mountPath: '/ferry-restore/data', subPath: 'data' },
      { name: 'cache', mountPath: '/ferry-restore/cache' },
    ]);
    expect(init.volumeDevices).toBeUndefined();
    expect(ops).toContainEqual({ op: 'add', path: '/spec/volumes/-', value: { name: 'ferry-restore-markers', emptyDir: { sizeLimit: '1Mi' } } });
  });

  it('admits a block pod in process (standalone) with the same marker emptyDir and mount', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const pod = dbPod();
    pod.spec!.containers[0]!.volumeDevices = [{ name: 'data', devicePath: '/dev/xvda' }];
    const admitted = await admitPod({ ctx, pendingRestores: () => [restore] }, pod, 'shop');
    expect(admitted.spec!.volumes!.map((v) => v.name)).toEqual(['data', 'cache', 'config', 'ferry-restore-markers']);
    expect(admitted.spec!.initContainers![0]!.volumeMounts![0]).toEqual({ name: 'ferry-restore-markers', mountPath: '/ferry-restore/data', subPath: 'data' });
  });

  it('adds no marker volume to a pod without block volumes', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const ops = decode((await reviewPod({ ctx, pendingRestores: () => [restore] }, review(dbPod()))).response.patch);
    expect(ops.filter((o) => o.path.startsWith('/spec/volumes'))).toEqual([]);
  });

  it('creates the initContainers list when the pod has none', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const ops = decode((await reviewPod({ ctx, pendingRestores: () => [restore] }, review(dbPod()))).response.patch);
    expect(ops[0]).toMatchObject({ op: 'add', path: '/spec/initContainers' });
  });

  it('is idempotent: a pod that already carries restore-wait passes unchanged', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const out = await reviewPod({ ctx, pendingRestores: () => [restore] }, review(dbPod([{ name: 'ferry-restore-wait', image: 'x' }])));
    expect(out).toEqual({ response: { uid: 'req-1', allowed: true }, result: 'unchanged' });
  });

  it('gives a claim restored into a claim of its own (spec.targetClaims) to no pod, and never adopts a helper pod', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const toClaims: RestoreObject = { ...restore, spec: { ...restore.spec, targetClaims: [{ claim: 'data-db-0', name: 'data-copy' }] } };
    const patched = await reviewPod({ ctx, pendingRestores: () => [toClaims] }, review(dbPod()));
    const volumes = decode(patched.response.patch).find((o) => o.path === '/metadata/annotations/restore.ferry.dev~1volumes')!.value;
    expect(JSON.parse(volumes)).toEqual({ cache: 'b1-y' });
    const helper: V1Pod = { ...dbPod(), metadata: { name: 'ferry-helper-0123456789', labels: { 'ferry.dev/helper': 'restore' } } };
    expect((await reviewPod({ ctx, pendingRestores: () => [restore] }, review(helper))).result).toBe('unchanged');
  });

  it('passes non-matching pods unchanged: other owner, no pending restore, not a CREATE', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const other: V1Pod = { metadata: { name: 'web-1' }, spec: { containers: [{ name: 'w', image: 'x' }], volumes: [{ name: 'cache', emptyDir: {} }] } };
    expect((await reviewPod({ ctx, pendingRestores: () => [restore] }, review(other))).result).toBe('unchanged');
    let asked = false;
    expect((await reviewPod({ ctx, pendingRestores: () => ((asked = true), []) }, review(dbPod()))).result).toBe('unchanged');
    expect(asked).toBe(true);
    const update = review(dbPod());
    update.request!.operation = 'UPDATE';
    expect((await reviewPod({ ctx, pendingRestores: () => [restore] }, update)).result).toBe('unchanged');
  });
});
