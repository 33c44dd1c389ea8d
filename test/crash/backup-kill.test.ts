/**
 * SIGKILL `ferry backup` at seeded random instants (between 0 and the duration of an
 * unkilled run), against the local store and RGW S3. After every kill: check --read-data
 * passes, every earlier snapshot restores bit-exact, and the next backup of the same data
 * completes and, when the killed one had uploaded packs, uploads less than a full backup.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, removeDir, tempDir } from '../../packages/cli/src/cli.fixture.js';
import {
  ageSessionMarkers,
  cli,
  crashSeed,
  diff,
  expectCheckPasses,
  lastJson,
  localPlace,
  MiB,
  mulberry32,
  objects,
  randomTree,
  restoreAll,
  runAndKill,
  s3Place,
  treeDigest,
  under,
  type Expected,
  type Place,
  type Repo,
} from './crash.fixture.js';

/** 35 MiB of new data per attempt: two full 16 MiB packs and a partial one. */
const FILES = 5;
const FILE_SIZE = 7 * MiB;
/** Trials per repository before starting a fresh one (keeps check --read-data and restores short). */
const PER_REPOSITORY = 3;
const TRIALS = { local: 24, s3: 24 };

let work: string;
const seed = crashSeed();

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('crash-backup');
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

type Phase = 'before any upload' | 'pack upload' | 'index written, no snapshot' | 'snapshot written' | 'finished before the kill';

interface Tally {
  phases: Map<Phase, number>;
  reused: number;
  trials: number;
}

function phaseOf(killed: boolean, d: ReturnType<typeof diff>): Phase {
  if (!killed) return 'finished before the kill';
  if (under(d.added, 'snapshots/').length > 0) return 'snapshot written';
  if (under(d.added, 'index/').length > 0) return 'index written, no snapshot';
  if (under(d.added, 'data/').length > 0) return 'pack upload';
  return 'before any upload';
}

async function newRepository(place: Place, name: string, data: string): Promise<{ repo: Repo; expected: Expected[] }> {
  const repo = place.fresh(name);
  const init = await cli(['init'], repo);
  expect(init.exitCode, init.stderr).toBe(0);
  // A small first snapshot, so that "every earlier snapshot" is never empty.
  await randomTree(data, 2, 256 * 1024);
  const base = await cli(['backup', '--json', data], repo);
  expect(base.exitCode, base.stderr).toBe(0);
  return { repo, expected: [{ id: lastJson(base)['snapshotId'] as string, digest: await treeDigest(data) }] };
}

async function runTrials(place: Place, count: number, random: () => number): Promise<Tally> {
  const tally: Tally = { phases: new Map(), reused: 0, trials: 0 };
  const data = join(work, `${place.kind}-data`);
  let state = await newRepository(place, `${place.kind}-r0`, data);

  // An unkilled backup of fresh data: the kill window (from its first progress line to
  // its exit, so kills fall in the backup's work, not in Node start-up) and a full upload.
  await randomTree(data, FILES, FILE_SIZE);
  const reference = await runAndKill(['backup', '--json', data], state.repo, { from: 'output' });
  expect(reference.exitCode, reference.stderr).toBe(0);
  const summary = JSON.parse(reference.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  const fullUpload = summary['bytesAdded'] as number;
  state.expected.push({ id: summary['snapshotId'] as string, digest: await treeDigest(data) });
  let window = reference.msAfterOutput!;
  console.log(
    `[crash backup ${place.kind}] seed ${seed}; unkilled backup of ${(FILES * FILE_SIZE) / MiB} MiB: ${reference.ms.toFixed(0)} ms, ${window.toFixed(0)} ms after its first progress line; uploaded ${fullUpload} bytes`,
  );

  for (let trial = 1; trial <= count; trial++) {
    if (trial % PER_REPOSITORY === 0) state = await newRepository(place, `${place.kind}-r${trial}`, data);
    const { repo, expected } = state;
    await randomTree(data, FILES, FILE_SIZE);
    // Half the kills spread over the window past its first quarter (before that no pack
    // is complete), half around its end, where the index and the snapshot are written
    // within a few milliseconds. Runs here are slower or faster than the reference by
    // the load of the machine, so the ranges reach a little past it.
    const delay = Math.round(window * (trial % 2 === 0 ? 0.25 + 0.85 * random() : 0.85 + 0.3 * random()));
    const before = await objects(repo.store);
    const killed = await runAndKill(['backup', '--json', data], repo, { from: 'output', delayMs: delay });
    if (!killed.killed) {
      expect(killed.exitCode, killed.stderr).toBe(0);
      // It outran the kill: its duration is a newer measurement of an unkilled run (the
      // machine's load changes while the tests run).
      window = killed.msAfterOutput ?? window;
    }
    const after = await objects(repo.store);
    const changes = diff(before, after);
    const phase = phaseOf(killed.killed, changes);
    tally.phases.set(phase, (tally.phases.get(phase) ?? 0) + 1);
    // A kill past a quarter of the window that still found nothing uploaded means the machine
    // got slower than the reference run: stretch the window so later kills reach the uploads.
    if (killed.killed && phase === 'before any upload' && delay >= window * 0.25) window = Math.round(window * 1.25);
    const uploaded = under(changes.added, 'data/').reduce((n, [, size]) => n + size, 0);
    const label = `${place.kind} trial ${trial}/${count} (seed ${seed}, killed ${delay} ms after its first progress line: ${phase}, ${under(changes.added, 'data/').length} new pack(s), ${uploaded} bytes)`;

    await expectCheckPasses(repo, label);
    await restoreAll(repo, expected, join(work, 'scratch'));
    const digest = await treeDigest(data);
    const written = under(changes.added, 'snapshots/').map(([k]) => k.slice('snapshots/'.length));
    for (const id of written) expected.push({ id, digest });

    // The dead writer's marker is ignored once stale; stand in for the 15 minutes.
    await ageSessionMarkers(repo);
    const next = await cli(['backup', '--json', data], repo);
    expect(next.exitCode, `next backup after ${label}: ${next.stderr}`).toBe(0);
    const added = lastJson(next)['bytesAdded'] as number;
    if (killed.killed && uploaded >= 8 * MiB) {
      // What the killed run uploaded is adopted, not sent again.
      expect(added, `bytes uploaded by the next backup after ${label}`).toBeLessThan(fullUpload);
      expect(added).toBeLessThanOrEqual(fullUpload - uploaded + 2 * MiB);
      tally.reused++;
    }
    expected.push({ id: lastJson(next)['snapshotId'] as string, digest });
    console.log(`[crash backup] ${label}: check ok, ${expected.length - 1} earlier snapshot(s) restored, next backup uploaded ${added} bytes`);
    tally.trials++;
  }
  await rm(data, { recursive: true, force: true });
  return tally;
}

function report(kind: string, tally: Tally): void {
  const phases = [...tally.phases].map(([p, n]) => `${p}: ${n}`).join(', ');
  console.log(`[crash backup ${kind}] ${tally.trials} trials (seed ${seed}); ${phases}; next backup reused the killed upload in ${tally.reused}`);
}

describe('SIGKILL during ferry backup', () => {
  it(`local store: ${TRIALS.local} kills`, { timeout: 420_000 }, async () => {
    const tally = await runTrials(localPlace(join(work, 'repos')), TRIALS.local, mulberry32(seed));
    report('local', tally);
    expect(tally.trials).toBe(TRIALS.local);
    expect(tally.phases.get('pack upload') ?? 0).toBeGreaterThan(0);
  });

  it(`RGW S3: ${TRIALS.s3} kills`, { timeout: 420_000 }, async () => {
    const place = await s3Place();
    try {
      const tally = await runTrials(place, TRIALS.s3, mulberry32(seed ^ 0x5eed));
      report('s3', tally);
      expect(tally.trials).toBe(TRIALS.s3);
      expect(tally.phases.get('pack upload') ?? 0).toBeGreaterThan(0);
    } finally {
      await place.cleanup();
    }
  });
});
