import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { FakeApiServer } from './api-server.js';
import { apiFailure } from './client.fixture.js';

let api: FakeApiServer;
let core: CoreV1Api;
let custom: CustomObjectsApi;

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterAll(() => api.stop());

const pod = (name: string, labels: Record<string, string> = {}): V1Pod => ({
  metadata: { name, labels },
  spec: { containers: [{ name: 'app', image: 'busybox:1.36' }] },
});

describe('fake API server: core CRUD through client-node', () => {
  it('creates, reads, lists, updates and deletes a namespace-scoped object with system fields', async () => {
    await core.createNamespace({ body: { metadata: { name: 'crud' } } });
    const cm = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'a' }, data: { k: 'v' } } });
    expect(cm.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(cm.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(cm.metadata?.resourceVersion)).toBeGreaterThan(0);
    const read = await core.readNamespacedConfigMap({ namespace: 'crud', name: 'a' });
    expect(read.data).toEqual({ k: 'v' });
    const updated = await core.replaceNamespacedConfigMap({ namespace: 'crud', name: 'a', body: { ...read, data: { k: 'w' } } });
    expect(Number(updated.metadata!.resourceVersion)).toBeGreaterThan(Number(read.metadata!.resourceVersion));
    const list = await core.listNamespacedConfigMap({ namespace: 'crud' });
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['a']);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(updated.metadata!.resourceVersion));
    await core.deleteNamespacedConfigMap({ namespace: 'crud', name: 'a' });
    const gone = await apiFailure(core.readNamespacedConfigMap({ namespace: 'crud', name: 'a' }));
    expect(gone.code).toBe(404);
    expect(gone.body).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'configmaps "a" not found', code: 404 });
  });

  it('answers 409 Conflict to a PUT with a stale resourceVersion and 409 AlreadyExists to a duplicate create', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'stale' }, stringData: { a: 'b' } } });
    await core.replaceNamespacedSecret({ namespace: 'default', name: 'stale', body: { ...s, data: { a: 'Yw==' } } });
    const stale = await apiFailure(core.replaceNamespacedSecret({ namespace: 'default', name: 'stale', body: { ...s, data: { a: 'ZA==' } } }));
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    expect(stale.body.message).toContain('the object has been modified');
    const dup = await apiFailure(core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'stale' } } }));
    expect(dup.body).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'secrets "stale" already exists' });
  });

  it('rejects invalid names with 422, generates names, and 404s a missing namespace', async () => {
    const bad = await apiFailure(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'Bad_Name' } } }));
    expect(bad.code).toBe(422);
    expect(bad.body.reason).toBe('Invalid');
    expect(bad.body.message).toContain('metadata.name: Invalid value: "Bad_Name"');
    const gen = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'gen-' } } });
    expect(gen.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    const noNs = await apiFailure(core.createNamespacedConfigMap({ namespace: 'nope', body: { metadata: { name: 'x' } } }));
    expect(noNs.body).toMatchObject({ code: 404, message: 'namespaces "nope" not found' });
  });

  it('defaults pods like the API server and the ServiceAccount admission plugin', async () => {
    const p = await core.createNamespacedPod({ namespace: 'default', body: pod('defaults') });
    expect(p.status?.phase).toBe('Pending');
    expect(p.spec?.restartPolicy).toBe('Always');
    expect(p.spec?.serviceAccountName).toBe('default');
    const token = p.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access-'));
    expect(token?.projected).toBeDefined();
    expect(p.spec?.containers[0]?.volumeMounts?.[0]?.mountPath).toBe('/var/run/secrets/kubernetes.io/serviceaccount');
  });

  it('patches with JSON patch (the client default), merge patch and strategic merge; rejects apply with 415', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'p', labels: { a: '1' } }, data: { x: '1' } } });
    const j = await core.patchNamespacedConfigMap({ namespace: 'default', name: 'p', body: [{ op: 'add', path: '/data/y~1z', value: '2' }] });
    expect(j.data).toEqual({ x: '1', 'y/z': '2' });
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const m = await core.patchNamespacedConfigMap({ namespace: 'default', name: 'p', body: { data: { x: null }, metadata: { labels: { b: '2' } } } }, merge);
    expect(m.data).toEqual({ 'y/z': '2' });
    expect(m.metadata?.labels).toEqual({ a: '1', b: '2' });
    const smp = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
    const sm = await core.patchNamespacedConfigMap({ namespace: 'default', name: 'p', body: { data: { w: '3' } } }, smp);
    expect(sm.data).toEqual({ 'y/z': '2', w: '3' });
    const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    const rejected = await apiFailure(core.patchNamespacedConfigMap({ namespace: 'default', name: 'p', body: { data: {} } }, apply));
    expect(rejected.code).toBe(415);
    const badTest = await apiFailure(core.patchNamespacedConfigMap({ namespace: 'default', name: 'p', body: [{ op: 'test', path: '/data/w', value: 'nope' }] }));
    expect(badTest.code).toBe(422);
    const stale = await apiFailure(core.patchNamespacedConfigMap({ namespace: 'default', name: 'p', body: { metadata: { resourceVersion: '1' } } }, merge));
    expect(stale.code).toBe(409);
  });

  it('serves leases and both event APIs', async () => {
    const coord = api.kubeConfig().makeApiClient(CoordinationV1Api);
    const lease = await coord.createNamespacedLease({ namespace: 'kube-system', body: { metadata: { name: 'ferry-leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
    const taken = await coord.replaceNamespacedLease({ namespace: 'kube-system', name: 'ferry-leader', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } } });
    expect(taken.spec?.holderIdentity).toBe('b');
    expect((await apiFailure(coord.replaceNamespacedLease({ namespace: 'kube-system', name: 'ferry-leader', body: lease }))).code).toBe(409);
    await core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'x', namespace: 'default' }, reason: 'Tested', message: 'm', type: 'Normal' } });
    const evs = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=x,reason=Tested' });
    expect(evs.items).toHaveLength(1);
  });

  it('paginates lists with limit and continue', async () => {
    await core.createNamespace({ body: { metadata: { name: 'pages' } } });
    for (let i = 0; i < 5; i++) await core.createNamespacedConfigMap({ namespace: 'pages', body: { metadata: { name: `cm-${i}` } } });
    const names: string[] = [];
    let cont: string | undefined;
    do {
      const page = await core.listNamespacedConfigMap({ namespace: 'pages', limit: 2, _continue: cont });
      names.push(...page.items.map((i) => i.metadata!.name!));
      cont = page.metadata?._continue;
    } while (cont);
    expect(names).toEqual(['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4']);
    const first = await core.listNamespacedConfigMap({ namespace: 'pages', limit: 2 });
    await core.createNamespacedConfigMap({ namespace: 'pages', body: { metadata: { name: 'cm-5' } } });
    api.compactWatchHistory();
    const expired = await apiFailure(core.listNamespacedConfigMap({ namespace: 'pages', limit: 2, _continue: first.metadata?._continue }));
    expect(expired.body).toMatchObject({ code: 410, reason: 'Expired' });
  });

  it('serves the Ferry custom resources through CustomObjectsApi and KubernetesObjectApi', async () => {
    const b = (await custom.createNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: 'default', plural: 'backups', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'b1' }, spec: { includedNamespaces: ['default'] }, status: { phase: 'Sneaky' } } })) as { metadata: { generation: number }; status?: unknown };
    expect(b.metadata.generation).toBe(1);
    expect(b.status).toBeUndefined();
    const objects = KubernetesObjectApi.makeApiClient(api.kubeConfig());
    const read = await objects.read({ apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'b1', namespace: 'default' } });
    expect(read.metadata?.uid).toBeDefined();
    const listed = await objects.list('ferry.dev/v1alpha1', 'PodVolumeBackup', 'default');
    expect(listed.items).toEqual([]);
    const missing = await apiFailure(custom.getNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: 'default', plural: 'restores', name: 'nope' }));
    expect(missing.body.message).toBe('restores.ferry.dev "nope" not found');
    api.registerCustomResource({ group: 'example.com', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: false });
    const w = (await custom.createClusterCustomObject({ group: 'example.com', version: 'v1', plural: 'widgets', body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } } })) as { metadata: { namespace?: string } };
    expect(w.metadata.namespace).toBeUndefined();
  });
});
