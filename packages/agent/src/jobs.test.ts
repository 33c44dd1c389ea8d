import { VirtualClock } from '@ferry/blobstore';
import type { JobProgress, JobResult } from '@ferry/api';
import { MoverError, type MoverErrorCode } from '@ferry/mover';
import { describe, expect, it } from 'vitest';
import { AgentError, JobAbort, type AgentErrorCode } from './errors.js';
import type { Executor } from './executor.js';
import { JobRunner } from './jobs.js';
import { silentLogger } from '@ferry/log';
import { AgentMetrics } from './metrics.js';
import { ProgressThrottle } from './progress-throttle.js';
import { classifyError, ERROR_CODES, grpcStatusOf } from './status-codes.js';
import { job } from './test-hub.fixture.js';
import { status } from '@grpc/grpc-js';

/** An executor that reports progress and then runs until its job is aborted. */
const untilAborted: Executor = (_job, ctx) =>
  new Promise((_, reject) => {
    ctx.onProgress({ op: 'backup', filesDone: 1, bytesDone: 10 });
    ctx.signal.addEventListener('abort', () => reject(new MoverError('Canceled', 'stopped')), { once: true });
  });

function runner(execute: Executor, clock = new VirtualClock(), maxConcurrent = 1) {
  const progress: JobProgress[] = [];
  const results: JobResult[] = [];
  const r = new JobRunner({
    maxConcurrent,
    execute,
    clock,
    log: silentLogger,
    metrics: new AgentMetrics({ nodeName: 'n', version: 't', defaultMetrics: false }),
    onProgress: (p) => progress.push(p),
    onResult: (res) => results.push(res),
    wallClock: () => 1_000,
  });
  return { r, progress, results, clock };
}

/** The shape the proto loader hands out for `job(...)` (oneof names set, defaults filled). */
const parse = (j: ReturnType<typeof job>) =>
  ({
    ...j,
    volume: { pvName: '', pvcUid: '', pvcName: '', pluginDir: '', block: false, ...j.volume },
    repository: { ...j.repository, s3: null, key: { password: 'pw', key: 'password' } },
    backup: j.backup ?? null,
    restore: j.restore ?? null,
  }) as never;

describe('JobRunner', () => {
  it('fails a job that outlives its timeout with ERROR_CODE_TIMEOUT (virtual time)', async () => {
    const { r, results, clock } = runner(untilAborted);
    r.assign(parse(job({ id: 'slow', kind: 'backup', podUid: 'u', repository: '/r', timeoutSeconds: 3600 })));
    await r.idle();
    expect(clock.now()).toBe(3_600_000);
    expect(results[0]!.error).toMatchObject({ code: 'ERROR_CODE_TIMEOUT', retriable: true, message: 'the job ran longer than its timeout of 3600 s' });
  });

  it('runs at most maxConcurrent jobs and queues the rest', async () => {
    const { r, progress, results } = runner(untilAborted, new VirtualClock(), 1);
    r.assign(parse(job({ id: 'a', kind: 'backup', podUid: 'u', repository: '/r' })));
    r.assign(parse(job({ id: 'b', kind: 'backup', podUid: 'u', repository: '/r' })));
    await new Promise((res) => setTimeout(res, 20));
    expect(r.running).toBe(1);
    expect(r.statuses().map((s) => [s.jobId, s.phase])).toEqual([['a', 'JOB_PHASE_RUNNING'], ['b', 'JOB_PHASE_QUEUED']]);
    r.cancel('b', 'not needed');
    await new Promise((res) => setTimeout(res, 20));
    expect(results.map((x) => [x.jobId, x.error?.code])).toEqual([['b', 'ERROR_CODE_CANCELED']]);
    r.interruptAll('stopping');
    await r.idle();
    expect(results.map((x) => [x.jobId, x.error?.code])).toEqual([['b', 'ERROR_CODE_CANCELED'], ['a', 'ERROR_CODE_INTERRUPTED']]);
    expect(progress.filter((p) => p.jobId === 'b').every((p) => p.phase !== 'JOB_PHASE_RUNNING')).toBe(true);
  });

  it('holds a restore until restore-may-start, even when that arrived first', async () => {
    let ran = 0;
    const { r, results } = runner(async () => {
      ran++;
      return { kind: 'restore', result: { stats: { filesRestored: 1, dirsRestored: 0, bytesRestored: 5, durationSeconds: 0 }, fileErrors: [] } };
    });
    r.assign(parse(job({ id: 'r1', kind: 'restore', podUid: 'u', repository: '/r', snapshotId: 'abc' })));
    await new Promise((res) => setTimeout(res, 20));
    expect(ran).toBe(0);
    r.allowRestore('r1');
    r.allowRestore('r2');
    r.assign(parse(job({ id: 'r2', kind: 'restore', podUid: 'u', repository: '/r', snapshotId: 'abc' })));
    await r.idle();
    expect(ran).toBe(2);
    expect(results.map((x) => x.restore?.stats?.filesRestored)).toEqual([1, 1]);
  });

  it('refuses new jobs after stopAccepting with a retriable interrupted result', async () => {
    const { r, results } = runner(untilAborted);
    r.stopAccepting();
    r.assign(parse(job({ id: 'late', kind: 'backup', podUid: 'u', repository: '/r' })));
    expect(results[0]!.error).toMatchObject({ code: 'ERROR_CODE_INTERRUPTED', retriable: true });
  });
});

describe('ProgressThrottle', () => {
  it('sends at most one value per interval, the held one when it is over, and the last at finish', async () => {
    const clock = new VirtualClock();
    const sent: [number, number][] = [];
    const t = new ProgressThrottle<number>(clock, 2000, (v) => sent.push([clock.now(), v]));
    t.offer(1);
    t.offer(2);
    t.offer(3);
    await clock.sleep(2500);
    t.offer(4);
    await clock.sleep(100);
    t.finish(5);
    expect(sent).toEqual([[0, 1], [2000, 3], [2600, 5]]);
  });
});

describe('status codes (the one error mapping)', () => {
  it('maps every mover and agent code, and the agent abort reason wins', () => {
    const mover: MoverErrorCode[] = ['WrongPassword', 'RepositoryNotFound', 'RepositoryLocked', 'RepositoryCorrupt', 'SnapshotNotFound', 'SourceNotFound', 'Network', 'NoSpace', 'PermissionDenied', 'PartialFailure', 'TargetTooSmall', 'Canceled', 'Timeout', 'InvalidArgument', 'Unsupported', 'BinaryMissing', 'Internal'];
    for (const code of mover) expect(classifyError(new MoverError(code, 'x')).code).not.toBe('ERROR_CODE_UNSPECIFIED');
    const agent: AgentErrorCode[] = ['InvalidJob', 'VolumeNotFound', 'VolumeAmbiguous', 'VolumeIsBlock', 'VolumeOutsidePodsDir', 'MoverUnavailable', 'MarkerFailed'];
    for (const code of agent) expect(classifyError(new AgentError(code, 'x')).code).toMatch(/^ERROR_CODE_/);
    expect(classifyError(new MoverError('Network', 'reset'))).toMatchObject({ code: 'ERROR_CODE_NETWORK', retriable: true, grpcStatus: status.UNAVAILABLE, result: 'failed' });
    expect(classifyError(new MoverError('Canceled', 'stopped'), new JobAbort('interrupted', 'SIGTERM'))).toMatchObject({ code: 'ERROR_CODE_INTERRUPTED', message: 'SIGTERM', retriable: true, result: 'interrupted' });
    expect(classifyError(new Error('boom')).code).toBe('ERROR_CODE_INTERNAL');
    expect(grpcStatusOf('ERROR_CODE_VOLUME_NOT_FOUND')).toBe(status.NOT_FOUND);
    expect(Object.keys(ERROR_CODES)).toHaveLength(23);
  });
});
