/**
 * What only a real API server answers, for Ferry's shipped CRDs: strict field validation
 * and schema types, the status subresource, finalizers, and ownerReference cascade by the
 * real garbage collector. Runs on one control plane with deploy/ installed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ControlPlane } from './control-plane.js';
import { installFerry } from './install.js';
import { KubeRest } from './rest.js';
import { waitFor } from '../e2e/processes.fixture.js';

const NS = 'shop';
const group = { group: 'ferry.dev', version: 'v1alpha1' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let cp: ControlPlane;
let root: string;
let custom: CustomObjectsApi;
let rest: KubeRest;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-kube-semantics-'));
  cp = await ControlPlane.start({ root });
  await installFerry(cp);
  const kc = cp.adminKubeConfig();
  custom = kc.makeApiClient(CustomObjectsApi);
  rest = new KubeRest(kc);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
}, 180_000);

afterAll(async () => {
  await cp?.stop();
  await rm(root, { recursive: true, force: true });
});

function backup(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name, namespace: NS, ...extra }, spec: {} };
}

async function getBackup(name: string): Promise<{ metadata: { uid: string; deletionTimestamp?: string }; status?: Record<string, unknown> } | undefined> {
  return custom.getNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', name }).catch((e: { code?: number }) => {
    if (e.code === 404) return undefined;
    throw e;
  });
}

describe('Ferry CRDs on the real API server', () => {
  it('rejects an unknown field (strict validation) and a wrong type, with the server\'s message', async () => {
    const unknown = await rest.call('POST', `/apis/ferry.dev/v1alpha1/namespaces/${NS}/backups?fieldValidation=Strict`, JSON.stringify({ ...backup('typo'), spec: { purgeOnDelet: true } }));
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain('unknown field \\"spec.purgeOnDelet\\"');
    const wrongType = await rest.call('POST', `/apis/ferry.dev/v1alpha1/namespaces/${NS}/backups`, JSON.stringify({ ...backup('bad-type'), spec: { purgeOnDelete: 'yes' } }));
    expect(wrongType.status).toBe(422);
    expect((JSON.parse(wrongType.body) as { message: string }).message).toMatch(/spec\.purgeOnDelete: Invalid value: "string": spec\.purgeOnDelete in body must be of type boolean/);
    expect(await getBackup('typo')).toBeUndefined();
    expect(await getBackup('bad-type')).toBeUndefined();
  });

  it('ignores status written through the main resource; the status subresource writes it', async () => {
    await custom.createNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', body: backup('status-test') });
    await custom.patchNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', name: 'status-test', body: { status: { phase: 'Completed' } } }, merge);
    expect((await getBackup('status-test'))?.status?.['phase']).toBeUndefined();
    await custom.patchNamespacedCustomObjectStatus({ ...group, namespace: NS, plural: 'backups', name: 'status-test', body: { status: { phase: 'InProgress' } } }, merge);
    expect((await getBackup('status-test'))?.status?.['phase']).toBe('InProgress');
  });

  it('holds a deletion while a finalizer is set, and deletes once it is removed', async () => {
    await custom.createNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', body: backup('held', { finalizers: ['ferry.dev/backup-cleanup'] }) });
    await custom.deleteNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', name: 'held' });
    expect((await getBackup('held'))?.metadata.deletionTimestamp).toBeDefined();
    await custom.patchNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', name: 'held', body: { metadata: { finalizers: null } } }, merge);
    await waitFor(async () => (await getBackup('held')) === undefined, 10_000, 'backup held to be gone');
  });

  it('cascades a Backup\'s deletion to what it owns (the real garbage collector)', async () => {
    const owner = (await custom.createNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', body: backup('owner') })) as { metadata: { uid: string } };
    const ownerReferences = [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', name: 'owner', uid: owner.metadata.uid, controller: true }];
    const dependent = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owned-by-backup', namespace: NS, ownerReferences } };
    const created = await rest.call('POST', `/api/v1/namespaces/${NS}/configmaps`, JSON.stringify(dependent));
    expect(created.status, created.body).toBe(201);
    await custom.deleteNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', name: 'owner' });
    await waitFor(async () => (await rest.call('GET', `/api/v1/namespaces/${NS}/configmaps/owned-by-backup`)).status === 404, 60_000, 'the garbage collector to delete the dependent');
  }, 90_000);
});
