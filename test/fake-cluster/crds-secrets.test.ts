import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { FakeApiServer } from './api-server.js';
import { apiFailure } from './client.fixture.js';
import { FERRY_CRDS } from './resources.js';

let api: FakeApiServer;
let core: CoreV1Api;
let custom: CustomObjectsApi;
const group = { group: 'ferry.dev', version: 'v1alpha1' };
const CRD_DIR = new URL('../../deploy/crds/', import.meta.url);

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterAll(() => api.stop());

describe('fake API server: default Ferry CRDs come from deploy/crds', () => {
  it('registers every generated CRD with its scope, names and status subresource', () => {
    const manifests = readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml')).map((f) => parseYaml(readFileSync(new URL(f, CRD_DIR), 'utf8')) as { spec: { scope: string; names: { kind: string; plural: string } } });
    expect(FERRY_CRDS.map((c) => c.kind).sort()).toEqual(manifests.map((m) => m.spec.names.kind).sort());
    for (const m of manifests) {
      const crd = FERRY_CRDS.find((c) => c.kind === m.spec.names.kind)!;
      expect({ plural: crd.plural, namespaced: crd.namespaced }, crd.kind).toEqual({ plural: m.spec.names.plural, namespaced: m.spec.scope === 'Namespaced' });
    }
    expect(FERRY_CRDS.find((c) => c.kind === 'BackupLocation')?.namespaced).toBe(false);
    expect(FERRY_CRDS.find((c) => c.kind === 'Backup')?.namespaced).toBe(true);
  });

  it('serves BackupLocation cluster-scoped: created and listed without a namespace, 404 under one', async () => {
    await custom.createClusterCustomObject({ ...group, plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'nfs' }, spec: { filesystem: { path: '/b' } } } });
    const got = (await custom.getClusterCustomObject({ ...group, plural: 'backuplocations', name: 'nfs' })) as { metadata: { namespace?: string } };
    expect(got.metadata.namespace).toBeUndefined();
    const wrong = await apiFailure(custom.createNamespacedCustomObject({ ...group, namespace: 'default', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'x' }, spec: {} } }));
    expect(wrong.code).toBe(404);
    const status = await custom.patchClusterCustomObjectStatus({ ...group, plural: 'backuplocations', name: 'nfs', body: [{ op: 'add', path: '/status', value: { phase: 'Available' } }] });
    expect((status as { status: { phase: string } }).status.phase).toBe('Available');
  });
});

describe('fake API server: Secret stringData', () => {
  const decoded = (data: Record<string, string> | undefined) => Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

  it('encodes stringData into data on create (winning over data) and never stores stringData', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 's1' }, data: { a: Buffer.from('old').toString('base64'), keep: Buffer.from('k').toString('base64') }, stringData: { a: 'new', b: 'ünï' } } });
    expect(s.stringData).toBeUndefined();
    expect(decoded(s.data)).toEqual({ a: 'new', b: 'ünï', keep: 'k' });
    const read = await core.readNamespacedSecret({ namespace: 'default', name: 's1' });
    expect(read.stringData).toBeUndefined();
    expect(decoded(read.data)).toEqual({ a: 'new', b: 'ünï', keep: 'k' });
  });

  it('does the same on update and on a merge patch', async () => {
    const s = await core.readNamespacedSecret({ namespace: 'default', name: 's1' });
    const updated = await core.replaceNamespacedSecret({ namespace: 'default', name: 's1', body: { ...s, stringData: { c: 'see' } } });
    expect(updated.stringData).toBeUndefined();
    expect(decoded(updated.data)).toEqual({ a: 'new', b: 'ünï', keep: 'k', c: 'see' });
    const patched = await core.patchNamespacedSecret({ namespace: 'default', name: 's1', body: { stringData: { a: 'patched' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(patched.stringData).toBeUndefined();
    expect(decoded(patched.data)).toMatchObject({ a: 'patched', c: 'see' });
  });
});
