import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { createLogger } from '@ferry/log';
import { doneMarkerPath } from './markers.js';
import {
  FakeCoordinator,
  agentConfig,
  job,
  kubeletBlockVolume,
  kubeletVolume,
  scratch,
  waitFor,
  writeFiles,
  type Scratch,
} from './test-hub.fixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Setup {
  s: Scratch;
  hub: FakeCoordinator;
  agent: Agent;
  logs: string[];
}

async function setup(options: { autoAck?: boolean; progressIntervalMs?: number } = {}): Promise<Setup> {
  const s = await scratch();
  cleanups.push(s.cleanup);
  const hub = await FakeCoordinator.start({ certs: s.certs, ...(options.autoAck !== undefined ? { autoAck: options.autoAck } : {}) });
  cleanups.push(() => hub.stop());
  const logs: string[] = [];
  const agent = new Agent({
    config: agentConfig(s, hub),
    log: createLogger({ level: 'debug', write: (l) => logs.push(l) }),
    backoff: { initialMs: 50, maxMs: 200 },
    progressIntervalMs: options.progressIntervalMs ?? 2000,
    flushTimeoutMs: 500,
    defaultMetrics: false,
  });
  cleanups.push(() => agent.shutdown(0));
  await agent.start();
  await waitFor(() => agent.ready, 10_000, 'the agent to connect');
  return { s, hub, agent, logs };
}

async function metricValue(agent: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const base = name.replace(/_(count|sum|bucket)$/, '');
  const metric = (await agent.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name || m.name === base);
  const value = metric?.values.find((v) => ((v as { metricName?: string }).metricName ?? metric.name) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return value?.value ?? 0;
}

async function fetchText(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

describe('agent over mutual-TLS gRPC', () => {
  it('says hello, backs up an emptyDir and restores it into another pod behind restore-may-start, with metrics equal to the stats', async () => {
    const { s, hub, agent, logs } = await setup({ progressIntervalMs: 100 });
    const hello = hub.messages('hello')[0]!;
    expect(hello).toMatchObject({ nodeName: 'node-a', maxConcurrentJobs: 2, movers: ['MOVER_KIND_NATIVE', 'MOVER_KIND_RESTIC'], jobs: [] });
    expect(hello.instanceId).toBe(agent.instanceId);
    expect(await fetchText(agent.healthPort!, '/readyz')).toEqual({ status: 200, text: 'ready\n' });

    const source = await kubeletVolume(s.podsDir, 'pod-uid-1', 'kubernetes.io~empty-dir', 'data');
    const payload = randomBytes(3 * 1024 * 1024);
    await writeFiles(source, { 'db/table.bin': payload, 'conf/app.yaml': 'replicas: 3\n' });
    const repo = join(s.root, 'repo');
    hub.assign(job({ id: 'backup-1', kind: 'backup', podUid: 'pod-uid-1', repository: repo, password: 'hunter2-secret' }));
    const backup = await hub.waitFor(() => hub.results('backup-1')[0], 60_000, 'the backup result');
    expect(backup.outcome).toBe('backup');
    expect(backup.backup?.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    const stats = backup.backup!.stats!;
    expect(stats).toMatchObject({ filesNew: 2, bytesRead: payload.length + 'replicas: 3\n'.length });
    const phases = hub.messages('progress').filter((p) => p.jobId === 'backup-1').map((p) => p.phase);
    expect(phases[0]).toBe('JOB_PHASE_QUEUED');
    expect(phases).toContain('JOB_PHASE_RUNNING');
    expect(phases.at(-1)).toBe('JOB_PHASE_FINISHED');

    expect(await metricValue(agent, 'ferry_volume_bytes_read_total', { namespace: 'shop' })).toBe(stats.bytesRead);
    expect(await metricValue(agent, 'ferry_repository_bytes_uploaded_total', { namespace: 'shop' })).toBe(stats.bytesAdded);
    expect(await metricValue(agent, 'ferry_repository_bytes_deduplicated_total', { namespace: 'shop' })).toBe(stats.bytesDeduplicated);
    expect(await metricValue(agent, 'ferry_files_total', { op: 'backup', result: 'new' })).toBe(2);
    expect(await metricValue(agent, 'ferry_operations_total', { op: 'backup', result: 'completed' })).toBe(1);
    expect(await metricValue(agent, 'ferry_store_request_duration_seconds_count', { backend: 'local', op: 'put', result: 'ok' })).toBeGreaterThan(0);

    const target = await kubeletVolume(s.podsDir, 'pod-uid-2', 'kubernetes.io~empty-dir', 'data');
    hub.assign(job({ id: 'restore-1', kind: 'restore', podUid: 'pod-uid-2', repository: repo, password: 'hunter2-secret', snapshotId: backup.backup!.snapshotId, restoreUid: 'r-123' }));
    await hub.waitFor(() => hub.messages('progress').find((p) => p.jobId === 'restore-1' && p.phase === 'JOB_PHASE_WAITING_FOR_RESTORE_START'), 10_000, 'the restore to wait');
    await new Promise((r) => setTimeout(r, 300));
    expect(await readdir(target)).toEqual([]);
    hub.send({ restoreMayStart: { jobId: 'restore-1' } });
    const restore = await hub.waitFor(() => hub.results('restore-1')[0], 60_000, 'the restore result');
    expect(restore.outcome).toBe('restore');
    expect(restore.restore?.stats?.filesRestored).toBe(2);
    expect((await readFile(join(target, 'db', 'table.bin'))).equals(payload)).toBe(true);
    expect(await readFile(doneMarkerPath(target, 'r-123'), 'utf8')).toBe(`${backup.backup!.snapshotId}\n`);
    expect(await metricValue(agent, 'ferry_volume_bytes_restored_total', { namespace: 'shop' })).toBe(restore.restore!.stats!.bytesRestored);

    const metrics = await fetchText(agent.healthPort!, '/metrics');
    expect(metrics.text).toContain('ferry_agent_build_info{version=');
    expect(metrics.text).toContain(`nodejs="${process.versions.node}"`);
    // The session is still open: it was counted when the coordinator welcomed it.
    expect(await metricValue(agent, 'ferry_agent_coordinator_connects_total', { result: 'welcomed' })).toBe(1);
    expect(metrics.text).not.toContain('pod-uid-1');
    // Acknowledged results leave nothing behind; no secret reached a log line.
    await waitFor(async () => (await readdir(join(s.cacheDir, 'results'))).length === 0, 5000, 'acked results to be deleted');
    expect(logs.join('')).toContain('"job":"backup-1"');
    expect(logs.join('')).not.toContain('hunter2-secret');
  });

  it('answers an invalid job and a missing volume with coded errors', async () => {
    const { s, hub } = await setup();
    hub.assign({ ...job({ id: 'bad', kind: 'backup', podUid: 'p1', repository: '/x' }), repository: { location: '/x' } });
    const bad = await hub.waitFor(() => hub.results('bad')[0], 10_000);
    expect(bad.error).toMatchObject({ code: 'ERROR_CODE_INVALID_JOB', retriable: false });
    expect(bad.error!.message).toContain('repository.key');
    hub.assign(job({ id: 'missing', kind: 'backup', podUid: 'nope', repository: join(s.root, 'repo') }));
    const missing = await hub.waitFor(() => hub.results('missing')[0], 10_000);
    expect(missing.error?.code).toBe('ERROR_CODE_VOLUME_NOT_FOUND');
    expect(missing.error?.message).toContain('is the pod running on this node');
  });

  it('cancels a running backup when asked and reports it canceled', async () => {
    const { s, hub } = await setup({ progressIntervalMs: 50 });
    const source = await kubeletVolume(s.podsDir, 'pod-uid-c', 'kubernetes.io~empty-dir', 'data');
    for (let i = 0; i < 24; i++) await writeFiles(source, { [`f${i}.bin`]: randomBytes(2 * 1024 * 1024) });
    hub.assign(job({ id: 'cancel-me', kind: 'backup', podUid: 'pod-uid-c', repository: join(s.root, 'repo') }));
    await hub.waitFor(() => hub.messages('progress').find((p) => p.jobId === 'cancel-me' && p.phase === 'JOB_PHASE_RUNNING' && p.bytesDone > 0), 30_000, 'progress');
    hub.send({ cancel: { jobId: 'cancel-me', reason: 'user asked' } });
    const result = await hub.waitFor(() => hub.results('cancel-me')[0], 30_000);
    expect(result.error).toMatchObject({ code: 'ERROR_CODE_CANCELED', message: 'canceled: user asked', retriable: false });
  });
});

describe('agent with the restic mover', () => {
  it('backs up and restores a CSI PVC through a local restic repository', async () => {
    const { s, hub } = await setup();
    const source = await kubeletVolume(s.podsDir, 'pod-r1', 'kubernetes.io~csi', 'pvc-1234/mount');
    await writeFiles(source, { 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n' });
    const repo = join(s.root, 'restic-repo');
    const common = { repository: repo, password: 'restic-pass', mover: 'MOVER_KIND_RESTIC' as const, volumeKind: 'VOLUME_KIND_CSI_PERSISTENT' as const, pvName: 'pvc-1234' };
    hub.assign(job({ id: 'rb', kind: 'backup', podUid: 'pod-r1', ...common }));
    const backup = await hub.waitFor(() => hub.results('rb')[0], 60_000, 'the restic backup');
    expect(backup.error?.message).toBeUndefined();
    expect(backup).toMatchObject({ mover: 'MOVER_KIND_RESTIC', outcome: 'backup' });
    const target = await kubeletVolume(s.podsDir, 'pod-r2', 'kubernetes.io~csi', 'pvc-1234/mount');
    hub.send({ restoreMayStart: { jobId: 'rr' } });
    hub.assign(job({ id: 'rr', kind: 'restore', podUid: 'pod-r2', ...common, snapshotId: backup.backup!.snapshotId, restoreUid: 'ru' }));
    const restore = await hub.waitFor(() => hub.results('rr')[0], 60_000, 'the restic restore');
    expect(restore.outcome).toBe('restore');
    expect(await readFile(join(target, 'sub', 'b.txt'), 'utf8')).toBe('beta\n');
    expect((await stat(doneMarkerPath(target, 'ru'))).isFile()).toBe(true);
  });

  it('backs up a raw block volume (volumeDevices) and restores it bit-exact onto another pod\'s device, its done-marker in the pod\'s marker emptyDir', async () => {
    const { s, hub } = await setup();
    const size = 4 << 20;
    const device = await kubeletBlockVolume(s.podsDir, 'pod-b1', 'pvc-blk', size);
    const data = randomBytes(1 << 20);
    const fh = await open(device, 'r+');
    await fh.write(data, 0, data.length, 2 << 20);
    await fh.close();
    const repo = join(s.root, 'native-repo');
    const common = { repository: repo, volumeKind: 'VOLUME_KIND_CSI_PERSISTENT' as const, pvName: 'pvc-blk', block: true };
    hub.assign(job({ id: 'bb', kind: 'backup', podUid: 'pod-b1', ...common }));
    const backup = await hub.waitFor(() => hub.results('bb')[0], 60_000, 'the block backup');
    expect(backup.error?.message).toBeUndefined();
    expect(Number(backup.backup!.stats!.bytesProcessed)).toBe(size);
    const target = await kubeletBlockVolume(s.podsDir, 'pod-b2', 'pvc-blk', size);
    await writeFile(target, randomBytes(size));
    const markers = await kubeletVolume(s.podsDir, 'pod-b2', 'kubernetes.io~empty-dir', 'ferry-restore-markers');
    hub.send({ restoreMayStart: { jobId: 'br' } });
    hub.assign(job({ id: 'br', kind: 'restore', podUid: 'pod-b2', ...common, snapshotId: backup.backup!.snapshotId, restoreUid: 'rb-1' }));
    const restore = await hub.waitFor(() => hub.results('br')[0], 60_000, 'the block restore');
    expect(restore.error?.message).toBeUndefined();
    const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    expect(hash(await readFile(target))).toBe(hash(await readFile(device)));
    expect(await readFile(doneMarkerPath(join(markers, 'data'), 'rb-1'), 'utf8')).toBe(`${backup.backup!.snapshotId}\n`);
  });

  it('refuses a block restore onto a smaller device with the sizes, in the result and in the failed-marker', async () => {
    const { s, hub } = await setup();
    await kubeletBlockVolume(s.podsDir, 'pod-s1', 'pvc-big', 2 << 20);
    const repo = join(s.root, 'native-repo');
    const common = { repository: repo, volumeKind: 'VOLUME_KIND_CSI_PERSISTENT' as const, block: true };
    hub.assign(job({ id: 'sb', kind: 'backup', podUid: 'pod-s1', pvName: 'pvc-big', ...common }));
    const backup = await hub.waitFor(() => hub.results('sb')[0], 60_000, 'the block backup');
    expect(backup.error?.message).toBeUndefined();
    const small = await kubeletBlockVolume(s.podsDir, 'pod-s2', 'pvc-small', 1 << 20);
    const markers = await kubeletVolume(s.podsDir, 'pod-s2', 'kubernetes.io~empty-dir', 'ferry-restore-markers');
    hub.send({ restoreMayStart: { jobId: 'sr' } });
    hub.assign(job({ id: 'sr', kind: 'restore', podUid: 'pod-s2', pvName: 'pvc-small', ...common, snapshotId: backup.backup!.snapshotId, restoreUid: 'rs-1' }));
    const result = await hub.waitFor(() => hub.results('sr')[0], 60_000, 'the refused restore');
    expect(result.error?.code).toBe('ERROR_CODE_TARGET_TOO_SMALL');
    expect(result.error?.message).toMatch(/1048576 bytes.*2097152/);
    expect(await readFile(join(markers, 'data', '.ferry', 'rs-1.failed'), 'utf8')).toContain(result.error!.message);
    expect((await stat(small)).size).toBe(1 << 20);
  });

  it('answers a block volume on the restic mover with a coded error naming the ferry mover', async () => {
    const { s, hub } = await setup();
    await kubeletBlockVolume(s.podsDir, 'pod-b3', 'pvc-blk', 1 << 20);
    hub.assign(job({ id: 'rb-blk', kind: 'backup', podUid: 'pod-b3', repository: join(s.root, 'restic-repo'), password: 'p', mover: 'MOVER_KIND_RESTIC', volumeKind: 'VOLUME_KIND_CSI_PERSISTENT', pvName: 'pvc-blk', block: true }));
    const result = await hub.waitFor(() => hub.results('rb-blk')[0], 60_000, 'the refused backup');
    expect(result.error?.code).toBe('ERROR_CODE_UNSUPPORTED');
    expect(result.error?.message).toContain('ferry mover');
  });

  it('writes the failed-marker with the reason when a restore fails', async () => {
    const { s, hub } = await setup();
    const target = await kubeletVolume(s.podsDir, 'pod-f', 'kubernetes.io~empty-dir', 'data');
    hub.send({ restoreMayStart: { jobId: 'rf' } });
    hub.assign(job({ id: 'rf', kind: 'restore', podUid: 'pod-f', repository: join(s.root, 'no-such-repo'), snapshotId: 'ab'.repeat(32), restoreUid: 'u9' }));
    const result = await hub.waitFor(() => hub.results('rf')[0], 30_000);
    expect(result.error?.code).toBe('ERROR_CODE_REPOSITORY_NOT_FOUND');
    const reason = await readFile(join(target, '.ferry', 'u9.failed'), 'utf8');
    expect(reason).toContain('ERROR_CODE_REPOSITORY_NOT_FOUND');
  });
});

describe('agent and a coordinator that goes away', () => {
  it('keeps running a job while the coordinator restarts and delivers its result exactly once', async () => {
    const { s, hub, agent } = await setup({ progressIntervalMs: 50 });
    const source = await kubeletVolume(s.podsDir, 'pod-d', 'kubernetes.io~empty-dir', 'data');
    for (let i = 0; i < 12; i++) await writeFiles(source, { [`f${i}.bin`]: randomBytes(2 * 1024 * 1024) });
    hub.assign(job({ id: 'survivor', kind: 'backup', podUid: 'pod-d', repository: join(s.root, 'repo') }));
    await hub.waitFor(() => hub.messages('progress').find((p) => p.jobId === 'survivor' && p.phase === 'JOB_PHASE_RUNNING'), 30_000, 'the job to run');
    const port = hub.port;
    await hub.stop();
    // The job finishes while no coordinator listens: its result waits on disk.
    await waitFor(() => !agent.ready, 10_000, 'the agent to notice');
    await waitFor(async () => (await readdir(join(s.cacheDir, 'results'))).length === 1, 60_000, 'the result to be stored');
    const restarted = await FakeCoordinator.start({ certs: s.certs, port, received: hub.received });
    cleanups.push(() => restarted.stop());
    await restarted.waitFor(() => restarted.results('survivor').length > 0, 30_000, 'the re-sent result');
    await waitFor(async () => (await readdir(join(s.cacheDir, 'results'))).length === 0, 10_000, 'the ack');
    const hellos = restarted.messages('hello');
    expect(hellos.at(-1)!.jobs).toEqual([{ jobId: 'survivor', kind: 'JOB_KIND_BACKUP', phase: 'JOB_PHASE_FINISHED' }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(restarted.results('survivor')).toHaveLength(1);
    expect(restarted.results('survivor')[0]!.outcome).toBe('backup');
  });

  it('re-sends a result on every reconnect until it is acknowledged, also after an agent restart', async () => {
    const { s, hub, agent } = await setup({ autoAck: false });
    await kubeletVolume(s.podsDir, 'pod-n', 'kubernetes.io~empty-dir', 'data');
    hub.assign(job({ id: 'unacked', kind: 'backup', podUid: 'pod-n', repository: join(s.root, 'repo') }));
    await hub.waitFor(() => hub.results('unacked').length === 1, 30_000);
    hub.dropStreams();
    await hub.waitFor(() => hub.results('unacked').length === 2, 10_000, 'the re-send after a dropped stream');
    await agent.shutdown(0);
    expect(await readdir(join(s.cacheDir, 'results'))).toHaveLength(1);
    const again = new Agent({ config: agentConfig(s, hub), log: createLogger({ level: 'error', write: () => undefined }), defaultMetrics: false });
    cleanups.push(() => again.shutdown(0));
    await again.start();
    await hub.waitFor(() => hub.results('unacked').length === 3, 10_000, 'the re-send from the restarted agent');
    hub.send({ resultAck: { jobId: 'unacked' } });
    await waitFor(async () => (await readdir(join(s.cacheDir, 'results'))).length === 0, 10_000, 'the ack');
  });
});
