/**
 * What only a real API server answers, for Ferry's shipped CRDs: strict field validation
 * and schema types, schema defaults, the status subresource, finalizers, and ownerReference cascade by the
 * real garbage collector. Runs on one control plane with deploy/ installed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { BACKUP_DEFAULTS, BACKUP_SCHEDULE_DEFAULTS, RESTORE_DEFAULTS } from '../../packages/api/src/index.js';
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

  it('defaults what the CRD schemas default on an object created without those fields; an explicit value stays', async () => {
    const created = async (plural: string, body: Record<string, unknown>, namespace?: string) => {
      const path = namespace ? `/apis/ferry.dev/v1alpha1/namespaces/${namespace}/${plural}` : `/apis/ferry.dev/v1alpha1/${plural}`;
      const r = await rest.call('POST', path, JSON.stringify({ apiVersion: 'ferry.dev/v1alpha1', ...body }));
      expect(r.status, r.body).toBe(201);
      return (JSON.parse(r.body) as { spec: Record<string, unknown> }).spec;
    };
    expect(await created('backups', { kind: 'Backup', metadata: { name: 'defaults' }, spec: {} }, NS)).toEqual({ ttl: BACKUP_DEFAULTS.ttl, volumeTimeout: BACKUP_DEFAULTS.volumeTimeout });
    expect(await created('backups', { kind: 'Backup', metadata: { name: 'explicit' }, spec: { ttl: '1h' } }, NS)).toEqual({ ttl: '1h', volumeTimeout: '4h' });
    expect(await created('restores', { kind: 'Restore', metadata: { name: 'defaults' }, spec: { backupName: 'defaults' } }, NS)).toEqual({ backupName: 'defaults', ...RESTORE_DEFAULTS });
    const schedule = await created('backupschedules', { kind: 'BackupSchedule', metadata: { name: 'defaults' }, spec: { schedule: '@daily', template: {} } }, NS);
    expect(schedule).toEqual({ schedule: '@daily', ...BACKUP_SCHEDULE_DEFAULTS, template: { ttl: '720h', volumeTimeout: '4h' } });
    expect(await created('backuplocations', { kind: 'BackupLocation', metadata: { name: 'defaults' }, spec: { filesystem: { path: '/tmp/none' } } })).toEqual({ filesystem: { path: '/tmp/none' }, accessMode: 'ReadWrite' });
    // A GET reads the stored, defaulted object too (not only the create response).
    expect((await getBackup('defaults')) as unknown).toMatchObject({ spec: { ttl: '720h', volumeTimeout: '4h' } });
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
