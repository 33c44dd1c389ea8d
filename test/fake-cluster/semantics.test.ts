import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { FakeApiServer } from './api-server.js';

let api: FakeApiServer;
let core: CoreV1Api;
let custom: CustomObjectsApi;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const pvb = { group: 'ferry.dev', version: 'v1alpha1', namespace: 'default', plural: 'podvolumebackups' };

interface Cr {
  metadata: { name: string; generation: number; resourceVersion: string; deletionTimestamp?: string; finalizers?: string[]; uid: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterAll(() => api.stop());

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const end = Date.now() + 5000;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('fake API server: status subresource, generation, finalizers, garbage collection', () => {
  it('isolates status: main writes ignore status, /status writes change only status; generation follows spec', async () => {
    const created = (await custom.createNamespacedCustomObject({ ...pvb, body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'PodVolumeBackup', metadata: { name: 'v' }, spec: { volume: 'data' } } })) as Cr;
    const viaMain = (await custom.patchNamespacedCustomObject({ ...pvb, name: 'v', body: { status: { phase: 'Completed' }, metadata: { labels: { a: 'b' } } } }, merge)) as Cr;
    expect(viaMain.status).toBeUndefined();
    expect(viaMain.metadata.generation).toBe(1);
    const viaStatus = (await custom.patchNamespacedCustomObjectStatus({ ...pvb, name: 'v', body: { status: { phase: 'InProgress' }, spec: { volume: 'other' } } }, merge)) as Cr;
    expect(viaStatus.status).toEqual({ phase: 'InProgress' });
    expect(viaStatus.spec).toEqual({ volume: 'data' });
    expect(viaStatus.metadata.generation).toBe(1);
    const specChange = (await custom.replaceNamespacedCustomObject({ ...pvb, name: 'v', body: { ...viaStatus, spec: { volume: 'new' }, status: { phase: 'Ignored' } } })) as Cr;
    expect(specChange.metadata.generation).toBe(2);
    expect(specChange.status).toEqual({ phase: 'InProgress' });
    const same = (await custom.patchNamespacedCustomObjectStatus({ ...pvb, name: 'v', body: { status: { phase: 'InProgress' } } }, merge)) as Cr;
    expect(same.metadata.resourceVersion).toBe(specChange.metadata.resourceVersion);
    const stale = custom.replaceNamespacedCustomObjectStatus({ ...pvb, name: 'v', body: { ...created, status: { phase: 'Failed' } } });
    await expect(stale).rejects.toMatchObject({ code: 409 });
  });

  it('isolates pod status the same way', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'st' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } });
    const main = await core.patchNamespacedPod({ namespace: 'default', name: 'st', body: [{ op: 'replace', path: '/status/phase', value: 'Running' }] });
    expect(main.status?.phase).toBe('Pending');
    const status = await core.patchNamespacedPodStatus({ namespace: 'default', name: 'st', body: [{ op: 'replace', path: '/status/phase', value: 'Running' }] });
    expect(status.status?.phase).toBe('Running');
  });

  it('DELETE with finalizers sets deletionTimestamp; removing the last finalizer deletes', async () => {
    await custom.createNamespacedCustomObject({ ...pvb, body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'PodVolumeBackup', metadata: { name: 'fin', finalizers: ['ferry.dev/a', 'ferry.dev/b'] }, spec: {} } });
    const deleting = (await custom.deleteNamespacedCustomObject({ ...pvb, name: 'fin' })) as Cr;
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    const still = (await custom.getNamespacedCustomObject({ ...pvb, name: 'fin' })) as Cr;
    expect(still.metadata.deletionTimestamp).toBeDefined();
    await expect(custom.patchNamespacedCustomObject({ ...pvb, name: 'fin', body: [{ op: 'add', path: '/metadata/finalizers/-', value: 'ferry.dev/c' }] })).rejects.toMatchObject({ code: 422 });
    await custom.patchNamespacedCustomObject({ ...pvb, name: 'fin', body: [{ op: 'remove', path: '/metadata/finalizers/0' }] });
    expect(((await custom.getNamespacedCustomObject({ ...pvb, name: 'fin' })) as Cr).metadata.finalizers).toEqual(['ferry.dev/b']);
    await custom.patchNamespacedCustomObject({ ...pvb, name: 'fin', body: { metadata: { finalizers: null } } }, merge);
    await expect(custom.getNamespacedCustomObject({ ...pvb, name: 'fin' })).rejects.toMatchObject({ code: 404 });
  });

  it('garbage-collects dependents of a deleted owner (background) and orphans them on request', async () => {
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    const rs = await apps.createNamespacedReplicaSet({ namespace: 'default', body: { metadata: { name: 'rs' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } } } });
    const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: rs.metadata!.uid!, controller: true, blockOwnerDeletion: true };
    for (const n of ['rs-1', 'rs-2']) await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: n, ownerReferences: [owner] }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } });
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'owner-cm' } } });
    await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'two-owners', ownerReferences: [owner, { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner-cm', uid: cm.metadata!.uid! }] } } });
    await apps.deleteNamespacedReplicaSet({ namespace: 'default', name: 'rs' });
    await eventually(() => core.listNamespacedPod({ namespace: 'default' }), (l) => !l.items.some((p) => p.metadata?.name?.startsWith('rs-')), 'pods to be collected');
    const survivor = await eventually(() => core.readNamespacedSecret({ namespace: 'default', name: 'two-owners' }), (s) => s.metadata?.ownerReferences?.length === 1, 'the dangling ref to go');
    expect(survivor.metadata?.ownerReferences?.[0]?.kind).toBe('ConfigMap');
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'owner-cm', propagationPolicy: 'Orphan' });
    const orphan = await eventually(() => core.readNamespacedSecret({ namespace: 'default', name: 'two-owners' }), (s) => !s.metadata?.ownerReferences, 'orphaning');
    expect(orphan.metadata?.name).toBe('two-owners');
  });

  it('keeps a bound pod Terminating for its grace period; grace 0 removes it', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'bound' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x:1' }] } } });
    const terminating = await core.deleteNamespacedPod({ namespace: 'default', name: 'bound' });
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(30);
    await core.deleteNamespacedPod({ namespace: 'default', name: 'bound', gracePeriodSeconds: 0 });
    await expect(core.readNamespacedPod({ namespace: 'default', name: 'bound' })).rejects.toMatchObject({ code: 404 });
  });

  it('terminates a namespace: content deleted, new content forbidden, then the namespace goes', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'held', finalizers: ['test/hold'] } } });
    const ns = await core.deleteNamespace({ name: 'doomed' });
    expect(ns).toBeDefined();
    await eventually(() => core.readNamespace({ name: 'doomed' }), (n) => n.status?.phase === 'Terminating', 'Terminating');
    await expect(core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'new' } } })).rejects.toMatchObject({ code: 403 });
    await eventually(() => core.readNamespacedConfigMap({ namespace: 'doomed', name: 'held' }), (c) => Boolean(c.metadata?.deletionTimestamp), 'content deletion');
    await core.patchNamespacedConfigMap({ namespace: 'doomed', name: 'held', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    await eventually(() => core.listNamespace().then((l) => l.items.map((n) => n.metadata?.name)), (names) => !names.includes('doomed'), 'namespace removal');
  });
});
