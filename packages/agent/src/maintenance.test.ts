/**
 * Maintenance jobs (check, prune) through the real JobRunner, executor and mover factory
 * on real local repositories: a sound native repository passes with its size and snapshot
 * count; a damaged pack is found and named; prune after forgetting frees bytes; restic's
 * check (real binary) reads a subset and finds damage too; cancel ends a check.
 */
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '@ferry/blobstore';
import type { JobResult } from '@ferry/api';
import { silentLogger } from '@ferry/log';
import { LocalStore } from '@ferry/blobstore';
import { NativeMover, type Mover } from '@ferry/mover';
import { ResticMover } from '@ferry/restic';
import { createExecutor } from './executor.js';
import { JobRunner } from './jobs.js';
import { AgentMetrics } from './metrics.js';
import { moverFactory } from './movers.js';

let root: string;
const PASSWORD = 'maintenance-test-password';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-agent-maint-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The system clock, moved ahead by `skipped` ms (prune sweeps only marks at least an hour old). */
let skipped = 0;
const skippingClock: Clock = { now: () => systemClock.now() + skipped, sleep: (ms, signal) => systemClock.sleep(ms, signal) };

function runner() {
  const metrics = new AgentMetrics({ nodeName: 'node-a', version: 't', defaultMetrics: false });
  const results: JobResult[] = [];
  const r = new JobRunner({
    maxConcurrent: 2,
    execute: createExecutor({ podsDir: join(root, 'pods'), createMover: moverFactory({ cacheDir: join(root, 'cache'), metrics, clock: skippingClock }) }),
    clock: systemClock,
    log: silentLogger,
    metrics,
    onProgress: () => undefined,
    onResult: (res) => results.push(res),
  });
  return { r, results, metrics };
}

/** A maintenance Job as the proto loader hands it out (no volume). */
function maintenanceJob(id: string, location: string, operation: 'check' | 'prune', readDataPercent = 0, mover: 'native' | 'restic' = 'native') {
  return {
    jobId: id,
    kind: 'JOB_KIND_MAINTENANCE',
    mover: mover === 'native' ? 'MOVER_KIND_NATIVE' : 'MOVER_KIND_RESTIC',
    timeoutSeconds: 0,
    volume: null,
    repository: { location, s3: null, key: { key: 'password', password: PASSWORD }, initializeIfMissing: false },
    backup: null,
    restore: null,
    maintenance: { operation: operation === 'check' ? 'MAINTENANCE_OPERATION_CHECK' : 'MAINTENANCE_OPERATION_PRUNE', readDataPercent, repositoryName: 'local-shop', namespace: 'shop' },
  } as never;
}

async function run(id: string, location: string, operation: 'check' | 'prune', readDataPercent = 0, mover: 'native' | 'restic' = 'native'): Promise<JobResult> {
  const { r, results } = runner();
  r.assign(maintenanceJob(id, location, operation, readDataPercent, mover));
  await r.idle();
  expect(results).toHaveLength(1);
  return results[0]!;
}

async function backupFiles(mover: Mover, volume: string, bytes: number): Promise<string> {
  const dir = join(root, 'src', volume);
  await mkdir(dir, { recursive: true });
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4) data.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
  await writeFile(join(dir, 'blob.bin'), data);
  return (await mover.backup({ source: { kind: 'directory', path: dir }, identity: { kind: 'pod', namespace: 'shop', pod: 'db-0', volume } })).snapshotId;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

async function totalBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const f of await filesUnder(dir)) sum += (await stat(f)).size;
  return sum;
}

/** Flips bytes in the middle of a file (the damage a bad disk or a stray write does). */
async function damage(file: string): Promise<void> {
  const size = (await stat(file)).size;
  const fh = await open(file, 'r+');
  try {
    const at = Math.floor(size / 2);
    const buf = Buffer.alloc(16);
    await fh.read(buf, 0, 16, at);
    for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ 0xff;
    await fh.write(buf, 0, 16, at);
  } finally {
    await fh.close();
  }
}

describe('maintenance jobs on a native repository', () => {
  it('check: a sound repository passes with size and snapshot count; a damaged pack is found and named', async () => {
    const location = join(root, 'native-check');
    const mover = new NativeMover({ store: new LocalStore({ root: location }), credential: { kind: 'password', password: PASSWORD } });
    await mover.init({});
    await backupFiles(mover, 'a', 300_000);
    await backupFiles(mover, 'b', 300_000);

    const sound = await run('check-1', location, 'check', 100);
    expect(sound.error).toBeUndefined();
    expect(sound.kind).toBe('JOB_KIND_MAINTENANCE');
    expect(sound.maintenance).toMatchObject({ operation: 'MAINTENANCE_OPERATION_CHECK', errorsFound: 0, messages: [], readDataPercent: 100, snapshotCount: 2 });
    expect(sound.maintenance?.repositorySizeBytes).toBe(await totalBytes(location));

    const packs = await filesUnder(join(location, 'data'));
    const victim = packs[0]!;
    await damage(victim);
    const packId = victim.split('/').pop()!;
    const found = await run('check-2', location, 'check', 100);
    expect(found.error).toBeUndefined();
    expect(found.maintenance?.errorsFound).toBeGreaterThan(0);
    expect(found.maintenance?.messages?.join('\n')).toContain(packId);
    expect(found.maintenance?.messages?.join('\n')).not.toContain(PASSWORD);
  });

  it('prune: after forgetting a snapshot, the first prune marks its packs and the one an hour later frees them', async () => {
    const location = join(root, 'native-prune');
    const mover = new NativeMover({ store: new LocalStore({ root: location }), credential: { kind: 'password', password: PASSWORD } });
    await mover.init({});
    const gone = await backupFiles(mover, 'x', 400_000);
    await backupFiles(mover, 'y', 400_000);
    await mover.removeSnapshots({ snapshotIds: [gone] });
    const before = await totalBytes(location);

    const marked = await run('prune-1', location, 'prune');
    expect(marked.maintenance).toMatchObject({ operation: 'MAINTENANCE_OPERATION_PRUNE', bytesFreed: 0, snapshotCount: 1 });
    skipped += 2 * 3600_000;
    const pruned = await run('prune-2', location, 'prune');
    expect(pruned.error).toBeUndefined();
    const m = pruned.maintenance!;
    expect(m.operation).toBe('MAINTENANCE_OPERATION_PRUNE');
    expect(Number(m.bytesFreed)).toBeGreaterThan(300_000);
    expect(Number(m.packsDeleted)).toBeGreaterThan(0);
    expect(m.snapshotCount).toBe(1);
    expect(Number(m.repositorySizeBytes)).toBe(await totalBytes(location));
    expect(Number(m.repositorySizeBytes)).toBeLessThan(before);
  });

  it('a missing repository fails the job with REPOSITORY_NOT_FOUND; cancel ends a check with CANCELED', async () => {
    const missing = await run('check-missing', join(root, 'nowhere'), 'check', 5);
    expect(missing.error?.code).toBe('ERROR_CODE_REPOSITORY_NOT_FOUND');
    expect(missing.maintenance).toBeUndefined();

    const location = join(root, 'native-cancel');
    const mover = new NativeMover({ store: new LocalStore({ root: location }), credential: { kind: 'password', password: PASSWORD } });
    await mover.init({});
    await backupFiles(mover, 'c', 100_000);
    const { r, results } = runner();
    r.assign(maintenanceJob('check-cancel', location, 'check', 100));
    r.cancel('check-cancel', 'test');
    await r.idle();
    expect(results[0]?.error?.code).toBe('ERROR_CODE_CANCELED');
  });

  it('refuses a maintenance job without its details or with a read-data share outside 0..100', async () => {
    const { r, results } = runner();
    r.assign({ ...(maintenanceJob('bad-1', root, 'check') as object), maintenance: null } as never);
    r.assign(maintenanceJob('bad-2', root, 'check', 150));
    await r.idle();
    expect(results.map((x) => x.error?.code)).toEqual(['ERROR_CODE_INVALID_JOB', 'ERROR_CODE_INVALID_JOB']);
    expect(results[1]?.error?.message).toContain('outside 0..100');
  });
});

describe('maintenance jobs on a restic repository (real restic)', () => {
  it('check reads a subset, finds a damaged pack, and reports restic stats; prune runs', async () => {
    const location = join(root, 'restic-repo');
    const restic = new ResticMover({ repository: location, password: PASSWORD, cacheDir: join(root, 'restic-cache') });
    await restic.init({});
    await backupFiles(restic, 'r1', 200_000);
    await backupFiles(restic, 'r2', 200_000);

    const sound = await run('restic-check-1', location, 'check', 50, 'restic');
    expect(sound.error).toBeUndefined();
    expect(sound.maintenance).toMatchObject({ errorsFound: 0, readDataPercent: 50, snapshotCount: 2 });
    expect(Number(sound.maintenance?.repositorySizeBytes)).toBeGreaterThan(400_000);

    const packs = await filesUnder(join(location, 'data'));
    const victim = packs.sort((a, b) => a.localeCompare(b))[0]!;
    await damage(victim);
    const found = await run('restic-check-2', location, 'check', 100, 'restic');
    expect(found.error).toBeUndefined();
    expect(found.maintenance?.errorsFound).toBeGreaterThan(0);
    expect(found.maintenance?.messages?.join('\n')).toContain(victim.split('/').pop()!.slice(0, 8));

    const pruned = await run('restic-prune', location, 'prune', 0, 'restic');
    expect(pruned.maintenance?.operation).toBe('MAINTENANCE_OPERATION_PRUNE');
  });
});
