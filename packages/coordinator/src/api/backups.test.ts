/**
 * The public API's Backups service and its authentication and authorization, over real
 * gRPC with TLS on the fake API server: tokens checked by TokenReview, client certificates
 * verified against the client CA, every call authorized by a SubjectAccessReview against
 * the fake's policy table; what the calls do is read back from the fake API server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { Backup__Output, BackupsClient } from '@ferry/api';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { until } from '../../../../test/fake-cluster/client.fixture.js';
import { systemClock } from '../clock.js';
import { KubeClusterState } from '../cluster/kube-state.js';
import type { BackupObject } from '../objects.js';
import { bearer, invoke, loadClientProtos, makeApiCerts, startApi, tlsCredentials, type ApiCerts, type RunningApi } from './api.fixture.js';

const protos = loadClientProtos();
let dir: string;
let certs: ApiCerts;
let fake: FakeApiServer;
let cluster: KubeClusterState;
let api: RunningApi;
let tokenClient: BackupsClient;
let fakeTime = Date.parse('2030-01-01T00:00:00Z');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-api-'));
  certs = makeApiCerts(dir);
  fake = await FakeApiServer.start({
    // Each read of the clock is a second later, so creation times order the backups.
    clock: { now: () => new Date((fakeTime += 1000)) },
    namespaces: ['default', 'ferry-system', 'team-a', 'team-b'],
    tokens: { 'token-a': { username: 'alice', groups: ['team-a-devs'] } },
    policy: [
      { groups: ['team-a-devs'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['backups', 'restores', 'backupschedules', 'backuprepositories'], namespaces: ['team-a'] },
      { users: ['cert-viewer'], verbs: ['get', 'list', 'watch'], apiGroups: ['ferry.dev'], resources: ['backups'], namespaces: ['team-b'] },
      { groups: ['backup-operators'], verbs: ['create'], apiGroups: ['ferry.dev'], resources: ['backups'], namespaces: ['team-b'] },
    ],
  });
  cluster = new KubeClusterState(fake.kubeConfig());
  api = await startApi({ cluster, clock: systemClock, certs, resyncMs: 200 });
  tokenClient = new protos.ferry.v1.Backups(`localhost:${api.port}`, tlsCredentials(certs));
});

afterAll(async () => {
  tokenClient?.close();
  await api?.stop();
  await fake?.stop();
  await rm(dir, { recursive: true, force: true });
});

const alice = () => bearer('token-a');
const backupIn = (ns: string, name: string) => cluster.get<BackupObject>('Backup', ns, name);

describe('authentication', () => {
  it('refuses a call without credentials and one with a bad token (UNAUTHENTICATED)', async () => {
    const none = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a' });
    expect(none.err?.code).toBe(status.UNAUTHENTICATED);
    expect(none.err?.details).toMatch(/no credentials.*Bearer/);
    const bad = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a' }, bearer('not-a-token'));
    expect(bad.err?.code).toBe(status.UNAUTHENTICATED);
    expect(bad.err?.details).toMatch(/TokenReview/);
  });

  it('authorizes a client-certificate user (CN) and its groups (O) through SubjectAccessReview', async () => {
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'seen-by-cert', namespace: 'team-b' }, spec: {} });
    const viewer = new protos.ferry.v1.Backups(`localhost:${api.port}`, tlsCredentials(certs, certs.clientCert('cert-viewer')));
    const operator = new protos.ferry.v1.Backups(`localhost:${api.port}`, tlsCredentials(certs, certs.clientCert('bob', ['backup-operators'])));
    try {
      const listed = await invoke(viewer.ListBackups, viewer, { namespace: 'team-b' });
      expect(listed.res?.backups.map((b) => b.name)).toContain('seen-by-cert');
      const create = await invoke(viewer.CreateBackup, viewer, { namespace: 'team-b', name: 'not-allowed' });
      expect(create.err?.code).toBe(status.PERMISSION_DENIED);
      expect(create.err?.details).toMatch(/cert-viewer may not create backups\.ferry\.dev in namespace team-b/);
      // bob is allowed only through the O=backup-operators group of his certificate.
      const created = await invoke(operator.CreateBackup, operator, { namespace: 'team-b', name: 'by-group' });
      expect(created.err).toBeUndefined();
      expect((await backupIn('team-b', 'by-group'))?.metadata.annotations?.['api.ferry.dev/created-by']).toBe('bob');
    } finally {
      viewer.close();
      operator.close();
    }
  });

  it('refuses a client certificate from another CA at the TLS layer, even with a valid token', async () => {
    const before = api.server.rejectedCertificates;
    const rogue = new protos.ferry.v1.Backups(`localhost:${api.port}`, tlsCredentials(certs, certs.foreignCert('alice')));
    try {
      const r = await invoke(rogue.ListBackups, rogue, { namespace: 'team-a' }, alice());
      expect(r.err?.code).toBe(status.UNAVAILABLE);
      expect(api.server.rejectedCertificates).toBeGreaterThan(before);
    } finally {
      rogue.close();
    }
  });
});

describe('namespace isolation of a token', () => {
  it('a token for team-a can list, create and delete in team-a but not in team-b (PERMISSION_DENIED naming verb, resource, namespace)', async () => {
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'theirs', namespace: 'team-b' }, spec: {} });
    expect((await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', name: 'mine' }, alice())).err).toBeUndefined();
    expect((await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a' }, alice())).res?.backups.map((b) => b.name)).toContain('mine');

    const list = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-b' }, alice());
    expect(list.err?.code).toBe(status.PERMISSION_DENIED);
    expect(list.err?.details).toBe('user alice may not list backups.ferry.dev in namespace team-b; grant it with a Role/ClusterRole binding');
    const all = await invoke(tokenClient.ListBackups, tokenClient, { allNamespaces: true }, alice());
    expect(all.err?.details).toMatch(/may not list backups\.ferry\.dev in all namespaces/);
    const del = await invoke(tokenClient.DeleteBackup, tokenClient, { namespace: 'team-b', name: 'theirs' }, alice());
    expect(del.err?.code).toBe(status.PERMISSION_DENIED);
    expect(del.err?.details).toMatch(/may not delete backups\.ferry\.dev in namespace team-b/);
    expect(await backupIn('team-b', 'theirs')).toBeDefined();

    expect((await invoke(tokenClient.DeleteBackup, tokenClient, { namespace: 'team-a', name: 'mine' }, alice())).res).toEqual({ purging: false });
    expect(await backupIn('team-a', 'mine')).toBeUndefined();
    // Operators see refusals in /metrics by method and code.
    const counted = async (method: string, code: string) => (await api.context.metrics.apiRequests.get()).values.find((v) => v.labels.method === method && v.labels.code === code)?.value ?? 0;
    expect(await counted('DeleteBackup', 'PERMISSION_DENIED')).toBeGreaterThanOrEqual(1);
    expect(await counted('DeleteBackup', 'OK')).toBeGreaterThanOrEqual(1);
    expect(await counted('ListBackups', 'PERMISSION_DENIED')).toBeGreaterThanOrEqual(2);
  });
});

describe('CreateBackup', () => {
  it('from a namespace and a pod selector writes the Backup the API server shows', async () => {
    const r = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', name: 'by-selector', podSelector: 'app=db,tier in (backend),!canary', tags: ['nightly'], volumeTimeout: '2h', location: 'rgw', mover: 'restic', labels: { team: 'a' } }, alice());
    expect(r.err).toBeUndefined();
    expect(r.res).toMatchObject({ namespace: 'team-a', name: 'by-selector', phase: 'New', location: 'rgw', mover: 'restic', tags: ['nightly'], labels: { team: 'a' }, createdBy: 'alice' });
    const stored = await backupIn('team-a', 'by-selector');
    expect(stored?.spec).toEqual({
      labelSelector: { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }, { key: 'canary', operator: 'DoesNotExist' }] },
      location: 'rgw',
      mover: 'restic',
      tags: ['nightly'],
      volumeTimeout: '2h',
    });
    expect(stored?.metadata.labels).toEqual({ team: 'a' });
  });

  it('says everything a Backup can: namespaces, ttl, include and exclude volumes; bad ones are named', async () => {
    const r = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', name: 'full', namespaces: ['team-a', 'team-a'], ttl: '48h', includeVolumes: ['*'], excludeVolumes: ['cache'] }, alice());
    expect(r.err).toBeUndefined();
    expect((await backupIn('team-a', 'full'))?.spec).toEqual({ namespaces: ['team-a'], ttl: '48h', includeVolumes: ['*'], excludeVolumes: ['cache'] });
    const bad = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', namespaces: ['Team'], ttl: 'forever', excludeVolumes: ['*'] }, alice());
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.err?.details).toMatch(/^ttl: expected a positive duration like 30m or 4h.*; namespaces\[0\]: must be a DNS-1123 label.*; exclude_volumes\[0\]: must be a DNS-1123 label$/);
  });

  it('from explicit pod volumes writes spec.pods; an empty name is generated from the time', async () => {
    const r = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', volumes: [{ pod: 'db-0', volumes: ['data', 'logs'] }, { pod: 'web-1' }], purgeOnDelete: true }, alice());
    expect(r.err).toBeUndefined();
    expect(r.res?.name).toMatch(/^backup-\d{14}$/);
    const stored = await backupIn('team-a', r.res!.name);
    expect(stored?.spec).toEqual({ pods: [{ name: 'db-0', volumes: ['data', 'logs'] }, { name: 'web-1' }], purgeOnDelete: true });
  });

  it('writes path excludes to spec.excludes and shows them back; a bad pattern is INVALID_ARGUMENT naming its index', async () => {
    const r = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', name: 'with-excludes', excludes: ['cache', '/tmp/**', 'cache'] }, alice());
    expect(r.err).toBeUndefined();
    expect(r.res?.excludes).toEqual(['cache', '/tmp/**']);
    expect((await backupIn('team-a', 'with-excludes'))?.spec.excludes).toEqual(['cache', '/tmp/**']);
    const bad = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', name: 'bad-excludes', excludes: ['ok', '../etc', 'a,b'] }, alice());
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.err?.details).toContain('excludes[1]: expected a path glob inside the volume');
    expect(bad.err?.details).toContain('excludes[2]: expected a path glob without commas');
    expect(await backupIn('team-a', 'bad-excludes')).toBeUndefined();
  });

  it('refuses an existing name (ALREADY_EXISTS) and leaves the object alone', async () => {
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'taken', namespace: 'team-a' }, spec: { tags: ['original'] } });
    const r = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', name: 'taken', tags: ['new'] }, alice());
    expect(r.err?.code).toBe(status.ALREADY_EXISTS);
    expect(r.err?.details).toMatch(/Backup team-a\/taken already exists/);
    expect((await backupIn('team-a', 'taken'))?.spec.tags).toEqual(['original']);
  });

  it('a malformed request gets INVALID_ARGUMENT naming every bad field, before any authorization', async () => {
    const r = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'Team_A', name: 'x', podSelector: 'app==', mover: 'rsync', volumeTimeout: 'soon', volumes: [{ pod: 'Bad Pod', volumes: [] }] }, alice());
    expect(r.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.err?.details).toContain('namespace: must be a DNS-1123 label');
    expect(r.err?.details).toContain('mover: must be one of native, restic');
    expect(r.err?.details).toContain('volume_timeout: expected a positive duration');
    expect(r.err?.details).toContain('volumes[0].pod: must be a DNS-1123 subdomain');
    const sel = await invoke(tokenClient.CreateBackup, tokenClient, { namespace: 'team-a', podSelector: 'app in (a' }, alice());
    expect(sel.err?.details).toMatch(/^pod_selector: /);
  });
});

describe('GetBackup and ListBackups', () => {
  it('lists newest first, filters by phase, label and schedule, and pages with opaque tokens', async () => {
    for (const [i, phase] of ['Completed', 'Failed', 'Completed', 'InProgress', 'Completed'].entries()) {
      const b = await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: `page-${i}`, namespace: 'team-a', labels: { set: 'pages', ...(i % 2 === 0 ? { 'ferry.dev/schedule': 'nightly' } : {}) } }, spec: {} });
      await cluster.replaceStatus('Backup', b, { phase });
    }
    const first = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', labelSelector: 'set=pages', pageSize: 2 }, alice());
    expect(first.res?.backups.map((b) => b.name)).toEqual(['page-4', 'page-3']);
    expect(first.res?.nextPageToken).not.toBe('');
    const second = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', labelSelector: 'set=pages', pageSize: 2, pageToken: first.res!.nextPageToken }, alice());
    expect(second.res?.backups.map((b) => b.name)).toEqual(['page-2', 'page-1']);
    const third = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', labelSelector: 'set=pages', pageSize: 2, pageToken: second.res!.nextPageToken }, alice());
    expect(third.res).toEqual({ backups: [expect.objectContaining({ name: 'page-0' })], nextPageToken: '' });

    const completed = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', labelSelector: 'set=pages', phases: ['Completed'] }, alice());
    expect(completed.res?.backups.map((b) => b.name)).toEqual(['page-4', 'page-2', 'page-0']);
    const scheduled = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', schedule: 'nightly', phases: ['Completed', 'Failed'] }, alice());
    expect(scheduled.res?.backups.map((b) => [b.name, b.schedule])).toEqual([['page-4', 'nightly'], ['page-2', 'nightly'], ['page-0', 'nightly']]);

    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const recent = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', labelSelector: 'set=pages', since: hourAgo }, alice());
    expect(recent.res?.backups).toHaveLength(5);
    const old = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', labelSelector: 'set=pages', since: '2000-01-01T00:00:00Z', until: hourAgo }, alice());
    expect(old.res?.backups).toEqual([]);
    const badTime = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', until: 'tomorrow' }, alice());
    expect(badTime.err?.details).toBe('until: expected an RFC 3339 time like 2030-05-01T10:00:00Z, got "tomorrow"');

    const bad = await invoke(tokenClient.ListBackups, tokenClient, { namespace: 'team-a', pageToken: 'garbage!', phases: ['Done'] }, alice());
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.err?.details).toContain('phases[0]: must be one of New, InProgress');
  });

  it('GetBackup shows per-volume detail from the PodVolumeBackups; a missing one is NOT_FOUND naming it', async () => {
    const b = await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'detailed', namespace: 'team-a' }, spec: { tags: ['t'] } });
    await cluster.replaceStatus('Backup', b, { phase: 'PartiallyFailed', progress: { bytesDone: 10, totalBytes: 20, filesDone: 1 }, counts: { total: 2, new: 0, inProgress: 0, completed: 1, partiallyFailed: 0, failed: 1, canceled: 0, skipped: 1 }, skippedVolumes: [{ namespace: 'team-a', pod: 'db-0', volume: 'cfg', reason: 'ConfigMap' }], error: { code: 'VolumeFailed', message: '1 of 2 volumes failed' } });
    const pvb = await cluster.createOrGet('PodVolumeBackup', {
      metadata: { name: 'detailed-abc', namespace: 'team-a', labels: { 'ferry.dev/backup': 'detailed' } },
      spec: { backup: 'detailed', pod: { namespace: 'team-a', name: 'db-0', uid: 'u' }, node: 'node-a', volume: { name: 'data', kind: 'emptyDir' }, repository: 'r', mover: 'native' },
    });
    await cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Failed', error: { code: 'VolumeNotFound', message: 'no such directory' } });
    const r = await invoke(tokenClient.GetBackup, tokenClient, { namespace: 'team-a', name: 'detailed' }, alice());
    expect(r.res).toMatchObject({
      phase: 'PartiallyFailed',
      message: '1 of 2 volumes failed',
      progress: { bytesDone: 10, bytesTotal: 20, filesDone: 1, volumesTotal: 2, volumesDone: 1, volumesFailed: 1 },
      skipped: [{ pod: 'db-0', volume: 'cfg', reason: 'ConfigMap' }],
      volumes: [{ pod: 'db-0', volume: 'data', node: 'node-a', phase: 'Failed', error: 'VolumeNotFound: no such directory', resource: 'detailed-abc', namespace: 'team-a', kind: 'emptyDir', claimName: '' }],
    });
    const missing = await invoke(tokenClient.GetBackup, tokenClient, { namespace: 'team-a', name: 'nope' }, alice());
    expect(missing.err?.code).toBe(status.NOT_FOUND);
    expect(missing.err?.details).toBe('Backup team-a/nope not found');
  });
});

/** Collects a watch stream's messages and how it ended. */
function collect(stream: ClientReadableStream<Backup__Output>): { messages: Backup__Output[]; ended: Promise<{ code: number; details: string }> } {
  const messages: Backup__Output[] = [];
  stream.on('data', (m: Backup__Output) => messages.push(m));
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    stream.on('status', (s: { code: number; details: string }) => resolve({ code: s.code, details: s.details }));
    stream.on('error', (e: ServiceError) => resolve({ code: e.code, details: e.details }));
  });
  return { messages, ended };
}

describe('WatchBackup', () => {
  it('streams the backup now and on every change, and ends with OK at a terminal phase', async () => {
    const b = await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'watched', namespace: 'team-a' }, spec: {} });
    const w = collect(tokenClient.WatchBackup({ namespace: 'team-a', name: 'watched' }, alice()));
    await until(() => w.messages.length === 1, 'the first message');
    const running = await cluster.replaceStatus<BackupObject>('Backup', b, { phase: 'InProgress', progress: { bytesDone: 5, filesDone: 1 } });
    await until(() => w.messages.some((m) => m.phase === 'InProgress'), 'the InProgress message');
    await cluster.replaceStatus('Backup', running, { phase: 'Completed', progress: { bytesDone: 9, filesDone: 2 } });
    expect(await w.ended).toMatchObject({ code: status.OK });
    expect(w.messages.map((m) => m.phase)).toEqual(['New', 'InProgress', 'Completed']);
    await until(() => api.server.openStreams === 0 && api.context.changes.size === 0, 'the stream to be released');
  });

  it('releases everything when the client cancels (open streams and change listeners back to 0)', async () => {
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'abandoned', namespace: 'team-a' }, spec: {} });
    const streams = [0, 1, 2].map(() => tokenClient.WatchBackup({ namespace: 'team-a', name: 'abandoned' }, alice()));
    const collected = streams.map(collect);
    await until(() => collected.every((c) => c.messages.length === 1), 'every stream to get the backup');
    expect(api.server.openStreams).toBe(3);
    expect(api.context.changes.size).toBe(3);
    for (const s of streams) s.cancel();
    for (const c of collected) expect((await c.ended).code).toBe(status.CANCELLED);
    await until(() => api.server.openStreams === 0 && api.context.changes.size === 0, 'the server to release the streams');
    const cancelled = (await api.context.metrics.apiRequests.get()).values.find((v) => v.labels.method === 'WatchBackup' && v.labels.code === 'CANCELLED');
    expect(cancelled?.value).toBeGreaterThanOrEqual(3);
  });

  it('ends with NOT_FOUND for a missing backup and PERMISSION_DENIED in another namespace', async () => {
    expect((await collect(tokenClient.WatchBackup({ namespace: 'team-a', name: 'ghost' }, alice())).ended)).toMatchObject({ code: status.NOT_FOUND, details: 'Backup team-a/ghost not found' });
    expect((await collect(tokenClient.WatchBackup({ namespace: 'team-b', name: 'theirs' }, alice())).ended).code).toBe(status.PERMISSION_DENIED);
    await until(() => api.server.openStreams === 0, 'no open streams');
  });
});

describe('CancelBackup and DeleteBackup', () => {
  it('cancel sets spec.cancel with the reason; a finished backup is FAILED_PRECONDITION', async () => {
    const b = await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'to-cancel', namespace: 'team-a' }, spec: {} });
    await cluster.replaceStatus('Backup', b, { phase: 'InProgress' });
    const r = await invoke(tokenClient.CancelBackup, tokenClient, { namespace: 'team-a', name: 'to-cancel', reason: 'wrong selector' }, alice());
    expect(r.err).toBeUndefined();
    const stored = await backupIn('team-a', 'to-cancel');
    expect(stored?.spec.cancel).toBe(true);
    expect(stored?.metadata.annotations?.['api.ferry.dev/cancel-reason']).toBe('wrong selector');

    const done = await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'finished', namespace: 'team-a' }, spec: {} });
    await cluster.replaceStatus('Backup', done, { phase: 'Completed' });
    const late = await invoke(tokenClient.CancelBackup, tokenClient, { namespace: 'team-a', name: 'finished' }, alice());
    expect(late.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(late.err?.details).toMatch(/already ended Completed/);
  });

  it('delete with purge sets spec.purgeOnDelete before deleting; without purge it does not', async () => {
    const finalizers = ['ferry.dev/backup-cleanup'];
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'purge-me', namespace: 'team-a', finalizers }, spec: {} });
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'keep-data', namespace: 'team-a', finalizers }, spec: {} });
    expect((await invoke(tokenClient.DeleteBackup, tokenClient, { namespace: 'team-a', name: 'purge-me', purge: true }, alice())).res).toEqual({ purging: true });
    expect((await invoke(tokenClient.DeleteBackup, tokenClient, { namespace: 'team-a', name: 'keep-data' }, alice())).res).toEqual({ purging: false });
    const purged = await backupIn('team-a', 'purge-me');
    const kept = await backupIn('team-a', 'keep-data');
    // The finalizer holds both, as the Backup controller would while it purges.
    expect(purged?.metadata.deletionTimestamp).toBeDefined();
    expect(purged?.spec.purgeOnDelete).toBe(true);
    expect(kept?.metadata.deletionTimestamp).toBeDefined();
    expect(kept?.spec.purgeOnDelete).toBeUndefined();
    const missing = await invoke(tokenClient.DeleteBackup, tokenClient, { namespace: 'team-a', name: 'never-was' }, alice());
    expect(missing.err?.code).toBe(status.NOT_FOUND);
  });
});
