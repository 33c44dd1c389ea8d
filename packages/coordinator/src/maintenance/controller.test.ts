/**
 * The maintenance controller on the fake API server with a ManualClock and a real AgentHub
 * that a test agent (a raw gRPC client) dials: due by interval, one job per repository
 * (the prune waits for the check), results into status, Events and metrics, idempotent
 * re-delivery, due by request annotation (with its read-data share), waiting with a
 * condition while no agent is connected, and a lost agent's job moving to another agent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, loadPackageDefinition, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { CoreV1Api } from '@kubernetes/client-node';
import { AGENT_PROTO_FILE, MAINTENANCE_ANNOTATIONS, PROTO_LOADER_OPTIONS, type AgentMessage, type AgentProtoGrpcType, type CoordinatorMessage__Output, type Job__Output, type JobResult } from '@ferry/api';
import { silentLogger } from '@ferry/log';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { ManualClock } from '../clock.js';
import { testContext } from '../context.fixture.js';
import type { ControllerContext } from '../context.js';
import { AgentHub } from '../hub.js';
import type { LocationObject } from '../repositories.js';
import { reconcileMaintenance } from './controller.js';
import { applyMaintenanceResult } from './runs.js';
import type { RepositoryObject } from './schedule.js';

const HOUR = 3_600_000;
const proto = loadPackageDefinition(loadSync(AGENT_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as AgentProtoGrpcType;
let api: FakeApiServer;
let core: CoreV1Api;
/** The location's directory: the coordinator opens (and creates) the repositories there. */
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-maintenance-'));
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', 'shop', 'web', 'lost']) await core.createNamespace({ body: { metadata: { name } } });
  const { kube } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: root } } } });
});
afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

/** A ControllerContext whose AgentHub listens (plaintext) and routes results to the maintenance code. */
async function setup(): Promise<{ ctx: ControllerContext; clock: ManualClock; port: number; stop: () => Promise<void> }> {
  const clock = new ManualClock(Date.now());
  const base = testContext(api.kubeConfig(), clock);
  let ctx!: ControllerContext;
  const hub = new AgentHub({ clock, log: silentLogger, coordinatorId: 'test', handlers: { onResult: (r) => applyMaintenanceResult(ctx, r), onProgress: () => undefined, onConnect: () => undefined, onDisconnect: () => undefined } });
  ctx = { ...base.ctx, hub };
  const port = await hub.listen('127.0.0.1:0');
  return { ctx, clock, port, stop: () => hub.stop() };
}

/** An agent as the hub sees it: says Hello, keeps every message, sends results on demand. */
async function testAgent(port: number, node: string) {
  const client = new proto.ferry.v1.AgentHub(`127.0.0.1:${port}`, credentials.createInsecure());
  const stream = client.Connect() as unknown as ClientDuplexStream<AgentMessage, CoordinatorMessage__Output>;
  const received: CoordinatorMessage__Output[] = [];
  stream.on('data', (m: CoordinatorMessage__Output) => received.push(m));
  stream.on('error', () => undefined);
  stream.write({ hello: { nodeName: node, agentVersion: 'test', instanceId: `instance-${node}`, movers: [], maxConcurrentJobs: 2, jobs: [] } });
  await until(() => received.some((m) => m.welcome));
  return {
    assigned: (): Job__Output[] => received.flatMap((m) => (m.assign?.job ? [m.assign.job] : [])),
    acked: (jobId: string): boolean => received.some((m) => m.resultAck?.jobId === jobId),
    running: (jobId: string) => stream.write({ progress: { jobId, phase: 'JOB_PHASE_RUNNING', filesDone: 0, bytesDone: 0, bytesPerSecond: 0 } }),
    send: (result: JobResult) => stream.write({ result }),
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}

async function until(test: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function repository(ctx: ControllerContext, namespace: string): Promise<RepositoryObject> {
  const location = (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
  return (await ctx.repositories.ensure(location, namespace, 'native')) as RepositoryObject;
}

const fresh = async (ctx: ControllerContext, name: string) => (await ctx.cluster.get<RepositoryObject>('BackupRepository', 'ferry-system', name))!;
const reconcile = (ctx: ControllerContext, name: string) => reconcileMaintenance(ctx, 'ferry-system', name);
const metric = async (ctx: ControllerContext, name: string, labels: string) => ((await ctx.metrics.registry.getSingleMetricAsString(name)).split('\n').find((l) => l.includes(labels)) ?? '').split(' ').pop();

function result(job: Job__Output, maintenance: NonNullable<JobResult['maintenance']>): JobResult {
  return { jobId: job.jobId, kind: 'JOB_KIND_MAINTENANCE', mover: 'MOVER_KIND_NATIVE', fileErrors: [], fileErrorsTotal: 0, startedAtUnixMs: 1, finishedAtUnixMs: 2, maintenance };
}

describe('repository maintenance controller', () => {
  it('runs check then prune when due by interval, never both at once, and records results, Events and metrics', async () => {
    const { ctx, clock, port, stop } = await setup();
    const agent = await testAgent(port, 'node-a');
    const repo = await repository(ctx, 'shop');
    const name = repo.metadata.name!;
    const created = Date.parse(String(repo.metadata.creationTimestamp));

    // Not due yet: the next times are one interval (default 168h) after creation.
    const first = await reconcile(ctx, name);
    expect((await fresh(ctx, name)).status).toMatchObject({ nextCheckTime: new Date(created + 168 * HOUR).toISOString().replace('.000', '') });
    expect(first.requeueAfterMs).toBe(HOUR);
    expect(agent.assigned()).toHaveLength(0);

    clock.advance(168 * HOUR + (created - clock.now()) + 1000);
    await reconcile(ctx, name);
    await until(() => agent.assigned().length === 1);
    const check = agent.assigned()[0]!;
    expect(check).toMatchObject({ kind: 'JOB_KIND_MAINTENANCE', volume: null, maintenance: { operation: 'MAINTENANCE_OPERATION_CHECK', readDataPercent: 5, repositoryName: name, namespace: 'shop' } });
    expect(check.repository?.location).toBe(join(root, 'shop'));
    expect((await fresh(ctx, name)).status?.maintenanceJob).toMatchObject({ operation: 'check', node: 'node-a', attempt: 1, jobId: check.jobId });

    // The prune is due too, but waits: reconciling again only tracks the running check.
    agent.running(check.jobId);
    await until(() => ctx.hub.session('node-a')?.jobs.has(check.jobId) === true);
    await reconcile(ctx, name);
    expect(agent.assigned().map((j) => j.jobId)).toEqual([check.jobId]);

    agent.send(result(check, { operation: 'MAINTENANCE_OPERATION_CHECK', errorsFound: 2, messages: ['pack 5e1f00aa: ciphertext does not authenticate', 'index 77: lists a missing pack'], readDataPercent: 5, repositorySizeBytes: 123_456, snapshotCount: 3 }));
    await until(() => agent.acked(check.jobId));
    let status = (await fresh(ctx, name)).status!;
    expect(status.maintenanceJob).toBeUndefined();
    expect(status.lastCheck).toMatchObject({ result: 'Failed', errors: 2, readDataPercent: 5, node: 'node-a', time: '1970-01-01T00:00:00Z' });
    expect(status.lastCheck?.message).toContain('pack 5e1f00aa');
    expect(status).toMatchObject({ sizeBytes: 123_456, snapshotCount: 3 });
    expect(status.conditions?.find((c) => c.type === 'Checked')).toMatchObject({ status: 'False', reason: 'CheckFailed' });
    const events = (await core.listNamespacedEvent({ namespace: 'ferry-system' })).items.filter((e) => e.involvedObject.name === name);
    expect(events.find((e) => e.reason === 'CheckFailed')?.message).toContain('pack 5e1f00aa');
    expect(await metric(ctx, 'ferry_repository_check_success', `repository="${name}"`)).toBe('0');
    expect(await metric(ctx, 'ferry_repository_size_bytes', 'namespace="shop"')).toBe('123456');
    expect(await metric(ctx, 'ferry_repository_snapshots', 'namespace="shop"')).toBe('3');
    expect(await metric(ctx, 'ferry_repository_last_check_timestamp_seconds', 'namespace="shop"')).toBe('0');
    expect(await metric(ctx, 'ferry_repository_maintenance_runs_total', 'op="check",result="failed"')).toBe('1');

    // A re-delivered result is acknowledged and changes nothing.
    agent.send(result(check, { operation: 'MAINTENANCE_OPERATION_CHECK', errorsFound: 0, messages: [], readDataPercent: 5 }));
    await new Promise((r) => setTimeout(r, 200));
    expect((await fresh(ctx, name)).status?.lastCheck?.result).toBe('Failed');
    expect(await metric(ctx, 'ferry_repository_maintenance_runs_total', 'op="check",result="failed"')).toBe('1');

    // Now the prune goes out.
    await reconcile(ctx, name);
    await until(() => agent.assigned().length === 2);
    const prune = agent.assigned()[1]!;
    expect(prune.maintenance?.operation).toBe('MAINTENANCE_OPERATION_PRUNE');
    agent.send(result(prune, { operation: 'MAINTENANCE_OPERATION_PRUNE', errorsFound: 0, messages: [], readDataPercent: 0, bytesFreed: 5_000, packsDeleted: 2, repositorySizeBytes: 118_456, snapshotCount: 3 }));
    await until(() => agent.acked(prune.jobId));
    status = (await fresh(ctx, name)).status!;
    expect(status.lastPrune).toMatchObject({ result: 'Succeeded', bytesFreed: 5_000, packsDeleted: 2 });
    expect(status.sizeBytes).toBe(118_456);
    expect(await metric(ctx, 'ferry_repository_maintenance_runs_total', 'op="prune",result="succeeded"')).toBe('1');

    // Nothing due: a check that found damage is not retried early, the next one is an interval later.
    const after = await reconcile(ctx, name);
    expect(agent.assigned()).toHaveLength(2);
    status = (await fresh(ctx, name)).status!;
    expect(Date.parse(status.nextCheckTime!)).toBe(Date.parse(status.lastCheck!.startedAt!) + 168 * HOUR);
    expect(after.requeueAfterMs).toBe(HOUR);
    agent.close();
    await stop();
  });

  it('runs a requested check with its read-data share, waiting with a condition while no agent is connected; a request is served once', async () => {
    const { ctx, clock, port, stop } = await setup();
    const repo = await repository(ctx, 'web');
    const name = repo.metadata.name!;
    const requested = new Date(clock.now()).toISOString();
    await ctx.cluster.mergePatch('BackupRepository', 'ferry-system', name, { metadata: { annotations: { [MAINTENANCE_ANNOTATIONS.checkRequested]: requested, [MAINTENANCE_ANNOTATIONS.checkReadDataPercent]: '50' } } });

    expect((await reconcile(ctx, name)).requeueAfterMs).toBe(10_000);
    let status = (await fresh(ctx, name)).status!;
    expect(status.maintenanceJob).toBeUndefined();
    expect(status.conditions?.find((c) => c.type === 'Maintenance')).toMatchObject({ status: 'False', reason: 'WaitingForAgent' });

    const agent = await testAgent(port, 'node-b');
    await reconcile(ctx, name);
    await until(() => agent.assigned().length === 1);
    const job = agent.assigned()[0]!;
    expect(job.maintenance).toMatchObject({ operation: 'MAINTENANCE_OPERATION_CHECK', readDataPercent: 50 });
    expect((await fresh(ctx, name)).status?.conditions?.find((c) => c.type === 'Maintenance')).toMatchObject({ status: 'True', reason: 'Assigned' });
    agent.send(result(job, { operation: 'MAINTENANCE_OPERATION_CHECK', errorsFound: 0, messages: [], readDataPercent: 50, repositorySizeBytes: 10, snapshotCount: 1 }));
    await until(() => agent.acked(job.jobId));
    status = (await fresh(ctx, name)).status!;
    expect(status.lastCheck).toMatchObject({ result: 'Succeeded', errors: 0, readDataPercent: 50, requestedAt: requested });
    expect(status.conditions?.find((c) => c.type === 'Checked')).toMatchObject({ status: 'True', reason: 'CheckPassed' });
    expect(await metric(ctx, 'ferry_repository_check_success', `repository="${name}"`)).toBe('1');

    // Served: no second run for the same request; a newer request runs again.
    await reconcile(ctx, name);
    expect(agent.assigned()).toHaveLength(1);
    clock.advance(60_000);
    await ctx.cluster.mergePatch('BackupRepository', 'ferry-system', name, { metadata: { annotations: { [MAINTENANCE_ANNOTATIONS.checkRequested]: new Date(clock.now()).toISOString() } } });
    await reconcile(ctx, name);
    await until(() => agent.assigned().length === 2);
    expect(agent.assigned()[1]!.jobId).not.toBe(job.jobId);
    agent.close();
    await stop();
  });

  it('moves the job of an agent that disconnected for longer than agentLostMs to another agent, then gives up after maxAttempts', async () => {
    const { ctx, clock, port, stop } = await setup();
    const repo = await repository(ctx, 'lost');
    const name = repo.metadata.name!;
    await ctx.cluster.mergePatch('BackupRepository', 'ferry-system', name, { metadata: { annotations: { [MAINTENANCE_ANNOTATIONS.pruneRequested]: new Date(clock.now()).toISOString() } } });
    const a = await testAgent(port, 'node-a');
    await reconcile(ctx, name);
    await until(() => a.assigned().length === 1);
    a.close();
    await until(() => ctx.hub.session('node-a') === undefined);
    const b = await testAgent(port, 'node-b');

    expect((await reconcile(ctx, name)).requeueAfterMs).toBeLessThanOrEqual(5_000);
    clock.advance(61_000);
    await reconcile(ctx, name);
    await until(() => b.assigned().length === 1);
    const second = (await fresh(ctx, name)).status!.maintenanceJob!;
    expect(second).toMatchObject({ operation: 'prune', node: 'node-b', attempt: 2 });
    expect(b.assigned()[0]!.jobId).toBe(second.jobId);

    b.close();
    await until(() => ctx.hub.session('node-b') === undefined);
    clock.advance(61_000);
    await reconcile(ctx, name);
    const status = (await fresh(ctx, name)).status!;
    expect(status.maintenanceJob).toBeUndefined();
    expect(status.lastPrune).toMatchObject({ result: 'Failed', node: 'node-b' });
    expect(status.lastPrune?.message).toMatch(/disconnected during the prune.*gave up after 2 attempts/);
    await stop();
  });
  it('never prunes an imported repository (this cluster only reads it): a requested prune is recorded Failed with a PruneFailed Event naming the location; a check still runs', async () => {
    const { ctx, clock, port, stop } = await setup();
    const agent = await testAgent(port, 'node-c');
    const location = (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
    const repo = await ctx.repositories.ensureImported(location, 'lost', { path: 'shop', repositoryId: 'ab'.repeat(16) });
    const name = repo.metadata.name!;
    await ctx.cluster.mergePatch('BackupRepository', 'ferry-system', name, { metadata: { annotations: { [MAINTENANCE_ANNOTATIONS.pruneRequested]: new Date(clock.now()).toISOString() } } });
    await reconcile(ctx, name);
    await new Promise((r) => setTimeout(r, 200));
    expect(agent.assigned()).toHaveLength(0);
    const status = (await fresh(ctx, name)).status!;
    expect(status.lastPrune).toMatchObject({ result: 'Failed' });
    expect(status.lastPrune?.message).toMatch(/at BackupLocation local was imported: this cluster only restores from it, so a prune is refused/);
    const events = (await core.listNamespacedEvent({ namespace: 'ferry-system' })).items.filter((e) => e.involvedObject.name === name);
    expect(events.find((e) => e.reason === 'PruneFailed')?.message).toContain('BackupLocation local');
    await reconcile(ctx, name);
    expect(agent.assigned()).toHaveLength(0);

    await ctx.cluster.mergePatch('BackupRepository', 'ferry-system', name, { metadata: { annotations: { [MAINTENANCE_ANNOTATIONS.checkRequested]: new Date(clock.now()).toISOString() } } });
    await reconcile(ctx, name);
    await until(() => agent.assigned().length === 1);
    expect(agent.assigned()[0]!.maintenance?.operation).toBe('MAINTENANCE_OPERATION_CHECK');
    agent.close();
    await stop();
  });
});
