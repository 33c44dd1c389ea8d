/**
 * SIGKILL `ferry prune` at seeded random instants, against the local store and RGW S3.
 * Every trial first makes garbage (a backup of changed data, then forget), so the killed
 * prune is sweeping the previous mark (writing a compacted index, deleting packs and
 * segments) and marking and repacking new garbage. After every kill: check --read-data
 * passes, every remaining snapshot restores bit-exact, the next backup completes (a dead
 * prune's lock blocks no backup), and a later prune breaks the dead lock once it is stale.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, removeDir, tempDir } from '../../packages/cli/src/cli.fixture.js';
import {
  cli,
  crashSeed,
  diff,
  expectCheckPasses,
  lastJson,
  localPlace,
  MiB,
  mulberry32,
  mutateTree,
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

const FILES = 6;
const FILE_SIZE = 3 * MiB;
const PER_REPOSITORY = 5;
const TRIALS = { local: 10, s3: 10 };
const PRUNE = ['prune', '--grace', '0s', '--max-unused', '0'];
/** A killed prune leaves its lock; the next prune may break it at once (no other prune runs here). */
const BREAK_DEAD_LOCK = { FERRY_STALE_SESSION_SECONDS: '0' };

let work: string;
const seed = crashSeed();

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('crash-prune');
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

interface State {
  readonly repo: Repo;
  readonly data: string;
  expected: Expected[];
}

async function newRepository(place: Place, name: string, data: string): Promise<State> {
  const repo = place.fresh(name);
  expect((await cli(['init'], repo)).exitCode).toBe(0);
  await randomTree(data, FILES, FILE_SIZE);
  const state: State = { repo, data, expected: [] };
  await backup(state);
  return state;
}

async function backup(state: State): Promise<void> {
  const run = await cli(['backup', '--json', state.data], state.repo);
  expect(run.exitCode, run.stderr).toBe(0);
  state.expected.push({ id: lastJson(run)['snapshotId'] as string, digest: await treeDigest(state.data) });
}

/** Changes a third of the data, backs it up and forgets all but the two newest snapshots. */
async function makeGarbage(state: State, random: () => number): Promise<void> {
  await mutateTree(state.data, FILES, FILE_SIZE, 2, random);
  await backup(state);
  const forget = await cli(['forget', '--keep-last', '2', '--json'], state.repo);
  expect(forget.exitCode, forget.stderr).toBe(0);
  const removed = new Set(lastJson(forget)['removed'] as string[]);
  state.expected = state.expected.filter((e) => !removed.has(e.id));
}

function phaseOf(killed: boolean, d: ReturnType<typeof diff>, after: Map<string, number>): string {
  if (!killed) return 'finished before the kill';
  const parts: string[] = [];
  if (after.has('prune/lock')) parts.push('lock held');
  const newPacks = under(d.added, 'data/').length;
  if (newPacks > 0) parts.push(`${newPacks} repacked pack(s) written`);
  if (under(d.added, 'index/').length > 0) parts.push('index written');
  if (under(d.added, 'prune/mark-').length > 0) parts.push('mark written');
  const gone = under(d.removed, 'data/').length;
  if (gone > 0) parts.push(`${gone} pack(s) deleted`);
  if (under(d.removed, 'index/').length > 0) parts.push('superseded index deleted');
  if (under(d.removed, 'prune/mark-').length > 0) parts.push('swept mark deleted');
  return parts.length === 0 ? 'killed before it changed anything' : parts.join(', ');
}

async function runTrials(place: Place, count: number, random: () => number): Promise<Map<string, number>> {
  const phases = new Map<string, number>();
  const data = join(work, `${place.kind}-data`);
  let state = await newRepository(place, `${place.kind}-p0`, data);

  // The kill window: from prune's start notice (the repository is open) to its end, in
  // an unkilled prune that has garbage to sweep and mark.
  await makeGarbage(state, random);
  expect((await cli(PRUNE, state.repo)).exitCode).toBe(0);
  await makeGarbage(state, random);
  const reference = await runAndKill(PRUNE, state.repo, { from: 'output' });
  expect(reference.exitCode, reference.stderr).toBe(0);
  let window = reference.msAfterOutput!;
  console.log(`[crash prune ${place.kind}] seed ${seed}; an unkilled prune took ${reference.ms.toFixed(0)} ms, ${window.toFixed(0)} ms after its start notice`);

  for (let trial = 1; trial <= count; trial++) {
    if (trial % PER_REPOSITORY === 0) {
      state = await newRepository(place, `${place.kind}-p${trial}`, data);
      await makeGarbage(state, random);
      expect((await cli(PRUNE, state.repo)).exitCode).toBe(0);
    }
    await makeGarbage(state, random);
    // Loading and planning take the first part of the window; the writes and deletes the rest.
    const delay = Math.round(window * (0.4 + 0.9 * random()));
    const before = await objects(state.repo.store);
    const killed = await runAndKill(PRUNE, state.repo, { from: 'output', delayMs: delay, env: BREAK_DEAD_LOCK });
    if (!killed.killed) {
      expect(killed.exitCode, killed.stderr).toBe(0);
      // It outran the kill: a newer measurement of an unkilled prune under the current load.
      window = killed.msAfterOutput ?? window;
    }
    const after = await objects(state.repo.store);
    const phase = phaseOf(killed.killed, diff(before, after), after);
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
    const label = `${place.kind} prune trial ${trial}/${count} (seed ${seed}, killed ${delay} ms after its start notice: ${phase})`;

    await expectCheckPasses(state.repo, label);
    await restoreAll(state.repo, state.expected, join(work, 'scratch'));
    // Neither the dead prune's lock nor its mark blocks a backup.
    await backup(state);
    console.log(`[crash prune] ${label}: check ok, ${state.expected.length - 1} snapshot(s) restored, next backup ok`);
  }
  // A prune after the last kill breaks the dead lock and finishes; the repository still checks.
  const last = await cli(PRUNE, state.repo, BREAK_DEAD_LOCK);
  expect(last.exitCode, last.stderr).toBe(0);
  await expectCheckPasses(state.repo, `the prune after the last ${place.kind} kill`);
  await restoreAll(state.repo, state.expected, join(work, 'scratch'));
  await rm(data, { recursive: true, force: true });
  return phases;
}

function report(kind: string, count: number, phases: Map<string, number>): void {
  console.log(`[crash prune ${kind}] ${count} trials (seed ${seed}); ${[...phases].map(([p, n]) => `${p}: ${n}`).join('; ')}`);
}

describe('SIGKILL during ferry prune', () => {
  it(`local store: ${TRIALS.local} kills`, { timeout: 240_000 }, async () => {
    const phases = await runTrials(localPlace(join(work, 'repos')), TRIALS.local, mulberry32(seed ^ 0x9e3779b9));
    report('local', TRIALS.local, phases);
    expect([...phases.values()].reduce((a, b) => a + b, 0)).toBe(TRIALS.local);
  });

  it(`RGW S3: ${TRIALS.s3} kills`, { timeout: 240_000 }, async () => {
    const place = await s3Place();
    try {
      const phases = await runTrials(place, TRIALS.s3, mulberry32(seed ^ 0x7f4a7c15));
      report('s3', TRIALS.s3, phases);
      expect([...phases.values()].reduce((a, b) => a + b, 0)).toBe(TRIALS.s3);
    } finally {
      await place.cleanup();
    }
  });
});
