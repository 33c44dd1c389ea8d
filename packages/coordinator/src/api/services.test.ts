/**
 * The public API's Restores, Schedules and Repositories services, health and reflection,
 * over real gRPC with TLS on the fake API server. Repository snapshots live in a real
 * local native repository opened with the cluster key, as the coordinator opens them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResticMover } from '@ferry/restic';
import { loadPackageDefinition, status, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { HealthClient, HealthCheckResponse__Output, RepositoriesClient, RestoresClient, SchedulesClient } from '@ferry/api';
import type { Mover } from '@ferry/mover';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { until } from '../../../../test/fake-cluster/client.fixture.js';
import { ManualClock } from '../clock.js';
import { KubeClusterState } from '../cluster/kube-state.js';
import type { BackupObject, PvbObject, RestoreObject } from '../objects.js';
import { nativePurgeMover } from '../purge.js';
import { Repositories, type LocationObject, type RepositoryObject } from '../repositories.js';
import { bearer, invoke, loadClientProtos, makeApiCerts, startApi, tlsCredentials, type ApiCerts, type RunningApi } from './api.fixture.js';
import type { ScheduleObject } from './convert.js';

const protos = loadClientProtos();
const clock = new ManualClock(Date.parse('2030-05-01T10:00:00Z'));
let dir: string;
let certs: ApiCerts;
let fake: FakeApiServer;
let cluster: KubeClusterState;
let api: RunningApi;
let restores: RestoresClient;
let schedules: SchedulesClient;
let repos: RepositoriesClient;
let repoName: string;
let native: Mover;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-api-svc-'));
  certs = makeApiCerts(dir);
  fake = await FakeApiServer.start({
    namespaces: ['default', 'ferry-system', 'team-a', 'team-b'],
    tokens: { 'token-a': { username: 'alice', groups: ['team-a-devs'] }, 'token-viewer': { username: 'victor' } },
    policy: [
      { groups: ['team-a-devs'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['backups', 'restores', 'backupschedules', 'backuprepositories'], namespaces: ['team-a'] },
      { users: ['victor'], verbs: ['get', 'list'], apiGroups: ['ferry.dev'], resources: ['backuprepositories'], namespaces: ['team-a'] },
    ],
  });
  cluster = new KubeClusterState(fake.kubeConfig());
  await cluster.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: join(dir, 'repos') } } } });
  api = await startApi({ cluster, clock, certs });
  const creds = tlsCredentials(certs);
  const target = `localhost:${api.port}`;
  restores = new protos.ferry.v1.Restores(target, creds);
  schedules = new protos.ferry.v1.Schedules(target, creds);
  repos = new protos.ferry.v1.Repositories(target, creds);
  // A real native repository for team-a with three snapshots of two volumes.
  const repositories = new Repositories({ cluster, namespace: 'ferry-system' });
  const repo = await repositories.ensure((await cluster.get<LocationObject>('BackupLocation', '', 'local'))!, 'team-a', 'native');
  repoName = repo.metadata.name!;
  native = nativePurgeMover({ repository: repoName, mover: 'native', access: await repositories.jobRepository(repoName, { initialize: true }) }).mover;
  await native.init({});
  await mkdir(join(dir, 'src'));
  for (const [volume, tag] of [['data', 'daily'], ['data', 'daily'], ['logs', 'weekly']] as const) {
    await writeFile(join(dir, 'src', 'f'), `${volume} ${Math.random()}`);
    await native.backup({ source: { kind: 'directory', path: join(dir, 'src') }, identity: { kind: 'pod', namespace: 'team-a', pod: 'db-0', volume }, tags: [tag] });
  }
});

afterAll(async () => {
  for (const c of [restores, schedules, repos]) c?.close();
  await api?.stop();
  await fake?.stop();
  await rm(dir, { recursive: true, force: true });
});

const alice = () => bearer('token-a');

describe('Restores', () => {
  it('creates a Restore of a Backup in the namespace; another namespace is PERMISSION_DENIED; a missing Backup NOT_FOUND', async () => {
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'nightly', namespace: 'team-a' }, spec: {} });
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'nightly', namespace: 'team-b' }, spec: {} });
    const r = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'back', backup: 'nightly', podSelector: 'app=db', volumeTimeout: '1h' }, alice());
    expect(r.err).toBeUndefined();
    expect(r.res).toMatchObject({ namespace: 'team-a', name: 'back', backup: 'nightly', phase: 'New' });
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'back'))?.spec).toEqual({ backupName: 'nightly', selection: { labelSelector: { matchLabels: { app: 'db' } } }, volumeTimeout: '1h' });

    const other = await invoke(restores.CreateRestore, restores, { namespace: 'team-b', name: 'back', backup: 'nightly' }, alice());
    expect(other.err?.code).toBe(status.PERMISSION_DENIED);
    expect(other.err?.details).toMatch(/alice may not create restores\.ferry\.dev in namespace team-b/);
    expect(await cluster.get<RestoreObject>('Restore', 'team-b', 'back')).toBeUndefined();
    const missing = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', backup: 'nope' }, alice());
    expect(missing.err?.code).toBe(status.NOT_FOUND);
    expect(missing.err?.details).toMatch(/Backup team-a\/nope not found/);
    const mapped = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'mapped', backup: 'nightly', namespaceMapping: { 'team-a': 'team-b' } }, alice());
    expect(mapped.err?.code).toBe(status.PERMISSION_DENIED);
    expect(mapped.err?.details).toMatch(/alice may not create restores\.ferry\.dev in namespace team-b/);
    expect(await cluster.get<RestoreObject>('Restore', 'team-a', 'mapped')).toBeUndefined();
    const invalid = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', backup: '', namespaceMapping: { 'team-a': 'Bad_NS' } }, alice());
    expect(invalid.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(invalid.err?.details).toBe('backup: required; namespace_mapping[team-a]: must be a DNS-1123 label (lower-case letters, digits and -, at most 63)');
  });

  it('a prefix or suffix is a target like a mapping: checked as a name, then create restores there; the stored Restore carries the creator', async () => {
    await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'nightly', namespace: 'team-a' }, spec: {} });
    const bad = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', backup: 'nightly', namespacePrefix: '-x', namespaceSuffix: `-${'y'.repeat(56)}` }, alice());
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.err?.details).toBe(`namespace_prefix: lower-case letters, digits and -, starting with a letter or digit (like "restored-"); namespace_prefix: target namespace "-xteam-a-${'y'.repeat(56)}" (namespacePrefix + team-a + namespaceSuffix) is not a valid DNS-1123 label: it has 65 characters; a namespace name has at most 63: shorten namespacePrefix/namespaceSuffix or map team-a explicitly in namespaceMapping`);
    const elsewhere = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'suffixed', backup: 'nightly', namespaceSuffix: '-b' }, alice());
    expect(elsewhere.err?.code).toBe(status.PERMISSION_DENIED);
    expect(elsewhere.err?.details).toMatch(/^user alice may not create restores\.ferry\.dev in namespace team-a-b;/);
    expect(await cluster.get<RestoreObject>('Restore', 'team-a', 'suffixed')).toBeUndefined();
    // Mapped back into its own namespace, the suffix renames nothing: only create restores in team-a is needed.
    const own = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'mapped-home', backup: 'nightly', namespaceSuffix: '-b', namespaceMapping: { 'team-a': 'team-a' } }, alice());
    expect(own.err).toBeUndefined();
    expect(own.res).toMatchObject({ namespaceSuffix: '-b', namespaceMapping: { 'team-a': 'team-a' } });
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'mapped-home'))?.metadata.annotations).toMatchObject({ 'ferry.dev/created-by': 'alice', 'api.ferry.dev/created-by': 'alice' });
  });

  it('latest resolves to the newest Completed Backup of a schedule before a time; no match is NOT_FOUND naming namespace, schedule and time', async () => {
    const completed = async (name: string, started: string, schedule?: string) => {
      const b = await cluster.createOrGet<BackupObject>('Backup', { metadata: { name, namespace: 'team-a', ...(schedule ? { labels: { 'ferry.dev/schedule': schedule } } : {}) }, spec: {} });
      await cluster.replaceStatus<BackupObject>('Backup', b, { phase: 'Completed', startTimestamp: started });
    };
    await completed('sched-1', '2030-04-01T00:00:00Z', 'daily');
    await completed('sched-2', '2030-04-02T00:00:00Z', 'daily');
    await completed('manual-3', '2030-04-03T00:00:00Z');
    const newest = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'newest', latest: true, volumes: ['data', 'data'], sourceNamespaces: ['team-a'] }, alice());
    expect(newest.err).toBeUndefined();
    expect(newest.res).toMatchObject({ backup: 'manual-3', source: 'latest' });
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'newest'))?.spec).toEqual({ latest: {}, selection: { volumes: ['data'], namespaces: ['team-a'] } });
    const older = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'older', latest: true, schedule: 'daily', asOf: '2030-04-02T12:00:00Z', previous: 1 }, alice());
    expect(older.res?.backup).toBe('sched-1');
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'older'))?.spec.latest).toEqual({ schedule: 'daily', asOf: '2030-04-02T12:00:00Z', previous: 1 });
    const skipping = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'no-hooks', latest: true, skipHooks: true }, alice());
    expect(skipping.res).toMatchObject({ skipHooks: true, hooks: [] });
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'no-hooks'))?.spec.hooks).toBe('Skip');
    expect(newest.res).toMatchObject({ skipHooks: false });

    const none = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', latest: true, schedule: 'daily', asOf: '2030-03-01T00:00:00Z' }, alice());
    expect(none.err?.code).toBe(status.NOT_FOUND);
    expect(none.err?.details).toMatch(/^no Completed Backup in namespace team-a created by BackupSchedule daily started at or before 2030-03-01T00:00:00Z; list them/);
    const both = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', backup: 'nightly', latest: true, asOf: 'yesterday' }, alice());
    expect(both.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(both.err?.details).toBe('backup: give exactly one of backup, latest and snapshots; as_of: expected an RFC 3339 time like 2030-05-01T10:00:00Z, got "yesterday"');
    const stray = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', backup: 'nightly', schedule: 'daily' }, alice());
    expect(stray.err?.details).toBe('latest: schedule, as_of and previous choose among Backups only with latest: true');
  });

  it('restores into claims: target_claims, storage_class_map and force become the spec fields, checked field by field', async () => {
    const req = { namespace: 'team-a', name: 'to-claims', backup: 'nightly', storageClassMap: { standard: 'fast' }, force: true, targetClaims: [
      { claim: 'data', name: 'data-copy', storage: '20Gi', accessModes: ['ReadWriteOnce'], storageClassName: '', namespace: '', existing: false },
      { claim: 'logs', name: 'logs-old', existing: true, storage: '', accessModes: [], storageClassName: '', namespace: 'team-a' },
    ] };
    const r = await invoke(restores.CreateRestore, restores, req, alice());
    expect(r.err).toBeUndefined();
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'to-claims'))?.spec).toEqual({
      backupName: 'nightly',
      targetClaims: [{ claim: 'data', name: 'data-copy', storage: '20Gi', accessModes: ['ReadWriteOnce'] }, { claim: 'logs', namespace: 'team-a', name: 'logs-old', existing: true }],
      storageClassMap: { standard: 'fast' },
      force: true,
    });
    const blank = { namespace: '', name: '', existing: false, storageClassName: '', storage: '', accessModes: [] as string[] };
    const bad = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', backup: 'nightly', targetClaims: [
      { ...blank, claim: '*', name: 'x' },
      { ...blank, claim: 'data', existing: true, storage: '1Gi' },
      { ...blank, claim: 'Bad_Claim', storage: 'lots', accessModes: ['ReadWriteSometimes'] },
    ] }, alice());
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.err?.details).toBe([
      'target_claims[0].name: cannot be set with claim "*"; name each claim in an entry of its own',
      'target_claims[1]: storage_class_name, storage and access_modes are for new claims; drop them or existing',
      'target_claims[2].claim: must be a DNS-1123 subdomain (lower-case letters, digits, - and ., at most 253)',
      'target_claims[2].storage: expected a quantity like 10Gi or 500M, got "lots"',
      'target_claims[2].access_modes[0]: must be one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod',
    ].join('; '));
  });

  it('restores explicit snapshots, checked field by field', async () => {
    const id = 'a'.repeat(64);
    const r = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', name: 'explicit', snapshots: [{ snapshotId: id, location: 'local', namespace: 'team-a', volume: 'data', claimName: 'data-db-0' }] }, alice());
    expect(r.err).toBeUndefined();
    expect(r.res).toMatchObject({ source: 'snapshots', backup: '' });
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'explicit'))?.spec.snapshots).toEqual([{ snapshotId: id, location: 'local', namespace: 'team-a', volume: 'data', claimName: 'data-db-0' }]);
    const bad = await invoke(restores.CreateRestore, restores, { namespace: 'team-a', snapshots: [{ snapshotId: 'abc', location: 'local', namespace: 'team-a', volume: 'Data' }] }, alice());
    expect(bad.err?.details).toBe('snapshots[0].snapshot_id: must be 64 lower-case hex digits (see "ferry repo snapshots"); snapshots[0].volume: must be a DNS-1123 label');
  });

  it('lists, gets, watches to a terminal phase and cancels', async () => {
    const r = await cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'watched', namespace: 'team-a' }, spec: { backupName: 'nightly' } });
    await cluster.replaceStatus<RestoreObject>('Restore', r, { phase: 'InProgress' });
    const cancel = await invoke(restores.CancelRestore, restores, { namespace: 'team-a', name: 'watched', reason: 'not needed' }, alice());
    expect(cancel.err).toBeUndefined();
    expect((await cluster.get<RestoreObject>('Restore', 'team-a', 'watched'))?.spec.cancel).toBe(true);
    const list = await invoke(restores.ListRestores, restores, { namespace: 'team-a', phases: ['InProgress'] }, alice());
    expect(list.res?.restores.map((x) => x.name)).toEqual(['watched']);

    const stream = restores.WatchRestore({ namespace: 'team-a', name: 'watched' }, alice());
    const phases: string[] = [];
    stream.on('data', (m: { phase: string }) => phases.push(m.phase));
    const ended = new Promise<number>((resolve) => stream.on('status', (s: { code: number }) => resolve(s.code)));
    await until(() => phases.length === 1, 'the first message');
    const latest = (await cluster.get<RestoreObject>('Restore', 'team-a', 'watched'))!;
    await cluster.replaceStatus('Restore', latest, { phase: 'Canceled' });
    expect(await ended).toBe(status.OK);
    expect(phases).toEqual(['InProgress', 'Canceled']);
    await until(() => api.server.openStreams === 0, 'the stream released');
    expect((await invoke(restores.CancelRestore, restores, { namespace: 'team-a', name: 'watched' }, alice())).err?.code).toBe(status.FAILED_PRECONDITION);
  });
});

describe('Schedules', () => {
  it('creates, reads, pauses and deletes a BackupSchedule; a bad cron or zone is INVALID_ARGUMENT naming the field', async () => {
    const created = await invoke(schedules.CreateSchedule, schedules, {
      namespace: 'team-a', name: 'nightly', cron: '30 2 * * *', timeZone: 'Europe/Berlin', template: { podSelector: 'app=db', tags: ['nightly'] }, maxCatchUp: 2, retention: { keepDaily: 7, keepWithin: '48h' },
    }, alice());
    expect(created.err).toBeUndefined();
    expect(created.res).toMatchObject({ name: 'nightly', cron: '30 2 * * *', timeZone: 'Europe/Berlin', paused: false, phase: 'Active', concurrencyPolicy: 'Forbid', maxCatchUp: 2, retention: { keepDaily: 7, keepWithin: '48h' } });
    expect((await cluster.get<ScheduleObject>('BackupSchedule', 'team-a', 'nightly'))?.spec).toEqual({
      schedule: '30 2 * * *', timeZone: 'Europe/Berlin', template: { labelSelector: { matchLabels: { app: 'db' } }, tags: ['nightly'] }, maxCatchUp: 2, retention: { keepDaily: 7, keepWithin: '48h' },
    });
    const paused = await invoke(schedules.SetSchedulePaused, schedules, { namespace: 'team-a', name: 'nightly', paused: true }, alice());
    expect(paused.res).toMatchObject({ paused: true, phase: 'Paused' });
    expect((await invoke(schedules.ListSchedules, schedules, { namespace: 'team-a' }, alice())).res?.schedules.map((s) => s.name)).toEqual(['nightly']);
    expect((await invoke(schedules.GetSchedule, schedules, { namespace: 'team-a', name: 'nightly' }, alice())).res?.paused).toBe(true);
    expect((await invoke(schedules.DeleteSchedule, schedules, { namespace: 'team-a', name: 'nightly' }, alice())).err).toBeUndefined();
    expect(await cluster.get('BackupSchedule', 'team-a', 'nightly')).toBeUndefined();

    const bad = await invoke(schedules.CreateSchedule, schedules, { namespace: 'team-a', name: 'bad', cron: '61 * * * *', timeZone: 'Mars/Olympus', concurrencyPolicy: 'Sometimes', template: { mover: 'tar' } }, alice());
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.err?.details).toMatch(/^time_zone: time zone "Mars\/Olympus" is not a known IANA name.*; cron: /);
    expect(bad.err?.details).toContain('concurrency_policy: must be one of Forbid, Replace');
    expect(bad.err?.details).toContain('template.mover: must be one of native, restic');
    const badCron = await invoke(schedules.CreateSchedule, schedules, { namespace: 'team-a', name: 'bad', cron: '61 * * * *' }, alice());
    expect(badCron.err?.details).toMatch(/^cron: /);
    const denied = await invoke(schedules.ListSchedules, schedules, { namespace: 'team-b' }, alice());
    expect(denied.err?.code).toBe(status.PERMISSION_DENIED);
  });

  it('takes a start window or a -random macro; both at once, or a bad window, is INVALID_ARGUMENT on start_window', async () => {
    const windowed = await invoke(schedules.CreateSchedule, schedules, { namespace: 'team-a', name: 'spread', cron: '0 1 * * *', startWindow: '3h' }, alice());
    expect(windowed.err).toBeUndefined();
    expect(windowed.res?.startWindow).toBe('3h');
    expect((await cluster.get<ScheduleObject>('BackupSchedule', 'team-a', 'spread'))?.spec.startWindow).toBe('3h');
    expect((await invoke(schedules.CreateSchedule, schedules, { namespace: 'team-a', name: 'random', cron: '@daily-random' }, alice())).err).toBeUndefined();
    const both = await invoke(schedules.CreateSchedule, schedules, { namespace: 'team-a', name: 'both', cron: '@daily-random', startWindow: '1h' }, alice());
    expect(both.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(both.err?.details).toMatch(/^start_window: .*already spreads runs/);
    const bad = await invoke(schedules.CreateSchedule, schedules, { namespace: 'team-a', name: 'bad-window', cron: '@daily', startWindow: 'soon' }, alice());
    expect(bad.err?.details).toMatch(/^start_window: "soon" is not a duration/);
  });
});

describe('Repositories', () => {
  it('lists and gets the repositories of a namespace with get/list on backuprepositories there; not under another namespace', async () => {
    const viewer = bearer('token-viewer');
    const list = await invoke(repos.ListRepositories, repos, { namespace: 'team-a' }, viewer);
    expect(list.res?.repositories).toEqual([expect.objectContaining({ name: repoName, namespace: 'team-a', location: 'local', mover: 'native', url: join(dir, 'repos', 'team-a') })]);
    expect((await invoke(repos.GetRepository, repos, { name: repoName, namespace: 'team-a' }, viewer)).res?.name).toBe(repoName);
    expect((await invoke(repos.ListRepositories, repos, { namespace: 'team-b' }, viewer)).err?.code).toBe(status.PERMISSION_DENIED);
    expect((await invoke(repos.GetRepository, repos, { name: repoName, namespace: 'team-a' }, alice())).err).toBeUndefined();
    const elsewhere = await invoke(repos.GetRepository, repos, { name: repoName, namespace: 'team-b' }, viewer);
    expect(elsewhere.err?.code).toBe(status.PERMISSION_DENIED);
  });

  it('lists snapshots by opening the repository on the coordinator, filtered by tags', async () => {
    const all = await invoke(repos.ListSnapshots, repos, { repository: repoName, namespace: 'team-a' }, bearer('token-viewer'));
    expect(all.err).toBeUndefined();
    expect(all.res?.snapshots).toHaveLength(3);
    expect(all.res?.snapshots[0]).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{64}$/), time: expect.stringMatching(/Z$/) });
    // Each snapshot holds one file of "<volume> <random>": its size is that file's length.
    for (const s of all.res?.snapshots ?? []) expect(Number(s.sizeBytes)).toBeGreaterThanOrEqual('data 0.1'.length);
    const weekly = await invoke(repos.ListSnapshots, repos, { repository: repoName, namespace: 'team-a', tags: ['weekly'] }, alice());
    expect(weekly.res?.snapshots.map((s) => s.tags)).toEqual([['weekly']]);
  });

  it('check and prune only record the request as annotations and need update there', async () => {
    const viewer = await invoke(repos.CheckRepository, repos, { repository: repoName, namespace: 'team-a', readDataPercent: 10 }, bearer('token-viewer'));
    expect(viewer.err?.details).toMatch(/victor may not update backuprepositories\.ferry\.dev in namespace team-a/);
    expect((await invoke(repos.CheckRepository, repos, { repository: repoName, namespace: 'team-a', readDataPercent: 10 }, alice())).err).toBeUndefined();
    expect((await invoke(repos.PruneRepository, repos, { repository: repoName, namespace: 'team-a' }, alice())).err).toBeUndefined();
    const stored = await cluster.get<RepositoryObject>('BackupRepository', 'ferry-system', repoName);
    expect(stored?.metadata.annotations).toMatchObject({
      'maintenance.ferry.dev/check-requested': '2030-05-01T10:00:00Z',
      'maintenance.ferry.dev/check-read-data-percent': '10',
      'maintenance.ferry.dev/prune-requested': '2030-05-01T10:00:00Z',
    });
    expect((await invoke(repos.CheckRepository, repos, { repository: repoName, namespace: 'team-a', readDataPercent: 101 }, alice())).err?.code).toBe(status.INVALID_ARGUMENT);
  });

  it('lists and forgets the snapshots of a restic repository through the restic binary', async () => {
    await cluster.core.createNamespacedSecret({ namespace: 'ferry-system', body: { metadata: { name: 'restic-team-a' }, stringData: { password: 'team-a restic password' } } });
    await cluster.createOrGet('BackupRepository', { metadata: { name: 'local-team-a-restic', namespace: 'ferry-system' }, spec: { location: 'local', namespace: 'team-a', mover: 'restic', path: 'team-a-restic', keySecretRef: { name: 'restic-team-a' } } });
    const restic = new ResticMover({ repository: join(dir, 'repos', 'team-a-restic'), password: 'team-a restic password', cacheDir: join(dir, 'restic-cache') });
    await restic.init({});
    for (const n of [1, 2]) {
      await writeFile(join(dir, 'src', 'f'), `restic ${n}`);
      await restic.backup({ source: { kind: 'directory', path: join(dir, 'src') }, identity: { kind: 'pod', namespace: 'team-a', pod: 'db-0', volume: 'data' }, tags: ['nightly'] });
    }
    const listed = await invoke(repos.ListSnapshots, repos, { repository: 'local-team-a-restic', namespace: 'team-a' }, bearer('token-viewer'));
    expect(listed.err).toBeUndefined();
    expect(listed.res?.snapshots).toHaveLength(2);
    expect(listed.res?.snapshots.every((s) => s.tags.includes('nightly'))).toBe(true);
    const forgot = await invoke(repos.ForgetSnapshots, repos, { repository: 'local-team-a-restic', namespace: 'team-a', policy: { keepLast: 1 } }, alice());
    expect(forgot.err).toBeUndefined();
    expect(forgot.res?.forgotten).toHaveLength(1);
    expect((await restic.snapshots({})).map((x) => x.id)).toEqual(forgot.res?.kept);
  });

  it('never forgets in a repository this cluster only reads (imported): FAILED_PRECONDITION naming it; a dry run still answers', async () => {
    const repositories = new Repositories({ cluster, namespace: 'ferry-system' });
    const location = (await cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
    const imported = await repositories.ensureImported(location, 'team-a', { path: 'team-a', repositoryId: (await native.init({})).repositoryId! });
    const refused = await invoke(repos.ForgetSnapshots, repos, { repository: imported.metadata.name!, namespace: 'team-a', policy: { keepLast: 1 } }, alice());
    expect(refused.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.err?.details).toBe(`BackupRepository ferry-system/${imported.metadata.name} at BackupLocation local was imported: this cluster only restores from it, so ForgetSnapshots is refused; run it on the cluster that owns the repository`);
    expect(await native.snapshots({})).toHaveLength(3);
    const dry = await invoke(repos.ForgetSnapshots, repos, { repository: imported.metadata.name!, namespace: 'team-a', policy: { keepLast: 1 }, dryRun: true }, alice());
    expect(dry.res?.forgotten).toHaveLength(1);
  });

  it('forgets by a retention policy per lineage: dry run changes nothing, then the forgotten snapshots are gone and a Backup left without snapshots is deleted', async () => {
    const dry = await invoke(repos.ForgetSnapshots, repos, { repository: repoName, namespace: 'team-a', policy: { keepLast: 1 }, dryRun: true }, alice());
    expect(dry.err).toBeUndefined();
    expect(dry.res?.kept).toHaveLength(2);
    expect(dry.res?.forgotten).toHaveLength(1);
    expect(await native.snapshots({})).toHaveLength(3);
    const b = await cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'old-data', namespace: 'team-a' }, spec: {} });
    await cluster.replaceStatus('Backup', b, { phase: 'Completed' });
    const pvb = await cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: 'old-data-0', namespace: 'team-a', labels: { 'ferry.dev/backup': 'old-data' } }, spec: { backup: 'old-data', pod: { namespace: 'team-a', name: 'db-0', uid: 'u' }, node: 'n', volume: { name: 'data', kind: 'emptyDir' }, repository: repoName, mover: 'native' } });
    await cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId: dry.res!.forgotten[0] });
    const real = await invoke(repos.ForgetSnapshots, repos, { repository: repoName, namespace: 'team-a', policy: { keepLast: 1 } }, alice());
    expect(real.res?.forgotten).toEqual(dry.res?.forgotten);
    expect((await native.snapshots({})).map((s) => s.id).sort()).toEqual([...dry.res!.kept].sort());
    expect(await cluster.get<BackupObject>('Backup', 'team-a', 'old-data')).toBeUndefined();
    const none = await invoke(repos.ForgetSnapshots, repos, { repository: repoName, namespace: 'team-a' }, alice());
    expect(none.err?.details).toMatch(/^policy: set at least one keep rule/);
  });
});

describe('health and reflection', () => {
  it('health reports SERVING for the server and each service, NOT_FOUND for an unknown one, without credentials', async () => {
    const health = new protos.grpc.health.v1.Health(`localhost:${api.port}`, tlsCredentials(certs)) as HealthClient;
    try {
      for (const service of ['', 'ferry.v1.Backups', 'ferry.v1.Transfer']) {
        expect((await invoke(health.Check, health, { service })).res).toEqual({ status: 'SERVING' });
      }
      expect((await invoke(health.Check, health, { service: 'nope.v1.X' })).err?.code).toBe(status.NOT_FOUND);
      const watch = health.Watch({ service: '' });
      watch.on('error', () => undefined); // CANCELLED, ours
      const first = await new Promise<HealthCheckResponse__Output>((resolve) => watch.once('data', resolve));
      expect(first.status).toBe('SERVING');
      watch.cancel();
      await until(() => api.server.openStreams === 0, 'the health watch released');
    } finally {
      health.close();
    }
  });

  it('reflection lists the ferry.v1 services, health and reflection itself', async () => {
    const def = loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [join(createRequire(import.meta.url).resolve('@grpc/reflection/package.json'), '..', 'build', 'proto')] });
    const Reflection = (loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: new (t: string, c: unknown) => { ServerReflectionInfo(): ClientDuplexStream<unknown, { listServicesResponse?: { service: { name: string }[] } }>; close(): void } } } } }).grpc.reflection.v1.ServerReflection;
    const client = new Reflection(`localhost:${api.port}`, tlsCredentials(certs));
    try {
      const call = client.ServerReflectionInfo();
      // The stream ends when we end our side; wait for that before closing the client, or its status surfaces as an uncaught error.
      const ended = new Promise<void>((resolve) => {
        call.on('error', () => resolve());
        call.on('status', () => resolve());
      });
      const names = await new Promise<string[]>((resolve) => {
        call.on('data', (m: { listServicesResponse?: { service: { name: string }[] } }) => resolve((m.listServicesResponse?.service ?? []).map((s) => s.name).sort()));
        call.write({ listServices: '*' });
      });
      call.end();
      await ended;
      expect(names).toEqual(expect.arrayContaining(['ferry.v1.Backups', 'ferry.v1.Repositories', 'ferry.v1.Restores', 'ferry.v1.Schedules', 'ferry.v1.Transfer', 'grpc.health.v1.Health']));
    } finally {
      client.close();
    }
  });
});
