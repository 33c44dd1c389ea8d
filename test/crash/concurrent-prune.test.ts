/**
 * A backup loop and a prune loop at the same time, as separate `ferry` processes, against
 * the local store and RGW S3: every round changes part of the data, backs it up and
 * forgets all but the newest snapshots, while prune --grace 0s --max-unused 0 runs
 * back to back. Nothing waits on anything. Afterwards every remaining snapshot restores
 * bit-exact and check --read-data passes.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, removeDir, tempDir } from '../../packages/cli/src/cli.fixture.js';
import {
  cli,
  crashSeed,
  expectCheckPasses,
  lastJson,
  localPlace,
  MiB,
  mulberry32,
  mutateTree,
  randomTree,
  restoreAll,
  s3Place,
  snapshotIds,
  treeDigest,
  type Expected,
  type Place,
} from './crash.fixture.js';

const FILES = 8;
const FILE_SIZE = 2 * MiB;
const ROUNDS = 8;
const PRUNE = ['prune', '--grace', '0s', '--max-unused', '0', '--json'];

let work: string;
const seed = crashSeed();

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('concurrent');
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

interface PruneTotals {
  runs: number;
  marksSwept: number;
  marksPostponed: number;
  packsDeleted: number;
  bytesFreed: number;
  packsRepacked: number;
  duringBackup: number;
}

async function concurrentRounds(place: Place): Promise<void> {
  const random = mulberry32(seed);
  const repo = place.fresh(`${place.kind}-concurrent`);
  expect((await cli(['init'], repo)).exitCode).toBe(0);
  const data = join(work, `${place.kind}-data`);
  await randomTree(data, FILES, FILE_SIZE);

  let expected: Expected[] = [];
  let backupRunning = false;
  let done = false;
  const backupLoop = async (): Promise<void> => {
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        if (round > 1) await mutateTree(data, FILES, FILE_SIZE, 3, random);
        const digest = await treeDigest(data);
        backupRunning = true;
        const run = await cli(['backup', '--json', data], repo);
        backupRunning = false;
        expect(run.exitCode, `backup round ${round}: ${run.stderr}`).toBe(0);
        expected.push({ id: lastJson(run)['snapshotId'] as string, digest });
        const forget = await cli(['forget', '--keep-last', '3', '--json'], repo);
        expect(forget.exitCode, forget.stderr).toBe(0);
        const removed = new Set(lastJson(forget)['removed'] as string[]);
        expected = expected.filter((e) => !removed.has(e.id));
      }
    } finally {
      done = true;
    }
  };
  const totals: PruneTotals = { runs: 0, marksSwept: 0, marksPostponed: 0, packsDeleted: 0, bytesFreed: 0, packsRepacked: 0, duringBackup: 0 };
  const pruneOnce = async (): Promise<void> => {
    const overlapped = backupRunning;
    const run = await cli(PRUNE, repo);
    expect(run.exitCode, `prune: ${run.stderr}`).toBe(0);
    const r = lastJson(run) as Record<string, number> & { marksPostponed: unknown[] };
    totals.runs++;
    totals.marksSwept += r['marksSwept']!;
    totals.marksPostponed += r.marksPostponed.length;
    totals.packsDeleted += r['packsDeleted']!;
    totals.bytesFreed += r['bytesFreed']!;
    totals.packsRepacked += r['packsRepacked']!;
    if (overlapped || backupRunning) totals.duringBackup++;
  };
  const pruneLoop = async (): Promise<void> => {
    while (!done) await pruneOnce();
  };
  await Promise.all([backupLoop(), pruneLoop()]);
  // Two more after the last backup: the first marks what the last forget left, the second sweeps it.
  await pruneOnce();
  await pruneOnce();

  expect(await snapshotIds(repo)).toEqual(expected.map((e) => e.id).sort());
  await restoreAll(repo, expected, join(work, 'scratch'));
  await expectCheckPasses(repo, `${ROUNDS} concurrent rounds on ${place.kind}`);
  console.log(
    `[concurrent ${place.kind}] seed ${seed}: ${ROUNDS} backups and ${totals.runs} prunes (${totals.duringBackup} overlapping a backup); ` +
      `marks swept ${totals.marksSwept}, postponed ${totals.marksPostponed}; packs repacked ${totals.packsRepacked}, deleted ${totals.packsDeleted} (${(totals.bytesFreed / MiB).toFixed(1)} MiB); ` +
      `${expected.length} snapshots restored bit-exact; check --read-data passed`,
  );
  expect(totals.duringBackup).toBeGreaterThan(0);
  expect(totals.packsDeleted).toBeGreaterThan(0);
}

describe('backup and prune running at the same time', () => {
  it('local store', { timeout: 240_000 }, async () => {
    await concurrentRounds(localPlace(join(work, 'repos')));
  });

  it('RGW S3', { timeout: 240_000 }, async () => {
    const place = await s3Place();
    try {
      await concurrentRounds(place);
    } finally {
      await place.cleanup();
    }
  });
});
