/**
 * Support for the crash-safety tests: the built `ferry` as real child processes (some
 * SIGKILLed after a seeded random delay), repositories on the local store or RGW S3,
 * tree digests for bit-exact restore checks, and ageing of a dead writer's session marker
 * (standing in for the 15 minutes after which the engine treats it as stale).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, lstat, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { LocalStore, S3Store, type BlobStore } from '../../packages/blobstore/src/index.js';
export { mulberry32 } from '../../packages/blobstore/src/index.js';
import { Repository } from '../../packages/repository/src/index.js';
import { open as openSealed, seal } from '../../packages/repository/src/crypto.js';
import { CLI, ferry, type FerryRun } from '../../packages/cli/src/cli.fixture.js';
import { createTestBucket, type TestBucket } from '../support/s3.js';

export const PASSWORD = 'crash test password';
const MiB = 1024 * 1024;

/** Seed of this run: FERRY_CRASH_SEED to replay one, else the clock. */
export function crashSeed(): number {
  const given = process.env['FERRY_CRASH_SEED'];
  return given !== undefined && given !== '' ? Number(given) >>> 0 : Date.now() >>> 0;
}


/** Where repositories of one test live: fresh directories, or fresh prefixes in one RGW bucket. */
export interface Place {
  readonly kind: 'local' | 's3';
  /** A new, empty repository location with the environment the CLI needs to reach it. */
  fresh(name: string): Repo;
  cleanup(): Promise<void>;
}

export interface Repo {
  readonly location: string;
  readonly env: Record<string, string>;
  /** The same objects as the CLI sees them, for listing and marker ageing. */
  readonly store: BlobStore;
}

export function localPlace(root: string): Place {
  return {
    kind: 'local',
    fresh: (name) => {
      const location = join(root, name);
      return { location, env: { FERRY_REPOSITORY: location, FERRY_PASSWORD: PASSWORD }, store: new LocalStore({ root: location }) };
    },
    cleanup: async () => undefined,
  };
}

export async function s3Place(): Promise<Place> {
  const bucket: TestBucket = await createTestBucket({ namePrefix: 'ferry-crash' });
  const stores: S3Store[] = [];
  return {
    kind: 's3',
    fresh: (name) => {
      const store = new S3Store({ ...bucket.storeOptions, prefix: name });
      stores.push(store);
      const location = `${bucket.url}/${name}`;
      return { location, env: { ...bucket.env, FERRY_REPOSITORY: location, FERRY_PASSWORD: PASSWORD }, store };
    },
    cleanup: async () => {
      for (const s of stores) s.close();
      await bucket.cleanup();
    },
  };
}

export async function cli(args: readonly string[], repo: Repo, extraEnv: Record<string, string> = {}): Promise<FerryRun> {
  return ferry(args, { env: { ...repo.env, ...extraEnv } });
}

export function lastJson(run: FerryRun): Record<string, unknown> {
  const lines = run.out.split('\n').filter((l) => l.startsWith('{'));
  return JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
}

export interface KilledRun {
  /** False when the command finished before the kill fell. */
  readonly killed: boolean;
  readonly exitCode: number | undefined;
  /** From spawn to exit. */
  readonly ms: number;
  /** From the first output (a progress line, a start notice) to exit; undefined without output. */
  readonly msAfterOutput: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

export interface KillOptions {
  /** SIGKILL this long after the start point; undefined: let the command finish. */
  readonly delayMs?: number;
  /**
   * 'spawn' counts from process start; 'output' from the first byte on stdout or stderr
   * (backup --json: its first progress line; prune: its start notice), so that the delay
   * falls in the command's work rather than in Node's start-up and key derivation.
   */
  readonly from: 'spawn' | 'output';
  readonly env?: Record<string, string>;
}

/** Runs `ferry ARGS` and SIGKILLs it after a delay (or lets it finish if it is faster). */
export async function runAndKill(args: readonly string[], repo: Repo, options: KillOptions): Promise<KilledRun> {
  const started = performance.now();
  const child = execa(process.execPath, [CLI, ...args], {
    env: { FERRY_DEBUG: undefined, ...repo.env, ...options.env },
    reject: false,
    stdin: 'ignore',
    timeout: 120_000,
  });
  let timer: NodeJS.Timeout | undefined;
  let firstOutput: number | undefined;
  const arm = (): void => {
    if (options.delayMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), options.delayMs);
  };
  if (options.from === 'spawn') arm();
  const onOutput = (): void => {
    if (firstOutput !== undefined) return;
    firstOutput = performance.now();
    if (options.from === 'output') arm();
  };
  child.stdout?.once('data', onOutput);
  child.stderr?.once('data', onOutput);
  const result = await child;
  if (timer !== undefined) clearTimeout(timer);
  const ended = performance.now();
  return {
    killed: result.signal === 'SIGKILL',
    exitCode: result.exitCode,
    ms: ended - started,
    msAfterOutput: firstOutput !== undefined ? ended - firstOutput : undefined,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  };
}

/** Every object key (with size) under the given prefixes. */
export async function objects(store: BlobStore, prefixes = ['data/', 'index/', 'snapshots/', 'sessions/', 'prune/']): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const prefix of prefixes) for await (const e of store.list(prefix)) out.set(e.key, e.size);
  return out;
}

export interface Diff {
  readonly added: Map<string, number>;
  readonly removed: Map<string, number>;
}

export function diff(before: Map<string, number>, after: Map<string, number>): Diff {
  const added = new Map([...after].filter(([k]) => !before.has(k)));
  const removed = new Map([...before].filter(([k]) => !after.has(k)));
  return { added, removed };
}

export const under = (m: Map<string, number>, prefix: string): [string, number][] => [...m].filter(([k]) => k.startsWith(prefix));

/** `count` files of `size` fresh random bytes in a new directory (every byte new to the repository). */
export async function randomTree(dir: string, count: number, size: number): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'sub'), { recursive: true });
  for (let i = 0; i < count; i++) await writeFile(join(dir, i % 2 === 0 ? 'sub' : '', `f${i}.bin`), randomBytes(size));
  await writeFile(join(dir, 'note.txt'), `written ${new Date().toISOString()}\n`);
}

/** Replaces `n` of the files of a tree made by randomTree with new random content. */
export async function mutateTree(dir: string, count: number, size: number, n: number, rng: () => number): Promise<void> {
  const picked = new Set<number>();
  while (picked.size < Math.min(n, count)) picked.add(Math.floor(rng() * count));
  for (const i of picked) await writeFile(join(dir, i % 2 === 0 ? 'sub' : '', `f${i}.bin`), randomBytes(size));
}

/** Path -> kind, mode and SHA-256 of every entry: what a bit-exact restore must reproduce. */
export async function treeDigest(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(full);
      if (st.isDirectory()) {
        out.set(path, `dir ${(st.mode & 0o7777).toString(8)}`);
        await visit(full, path);
      } else {
        out.set(path, `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(await readFile(full)).digest('hex')}`);
      }
    }
  };
  await visit(root, '');
  return out;
}

export interface Expected {
  readonly id: string;
  readonly digest: Map<string, string>;
}

/**
 * Restores every snapshot in `expected` into scratch space and compares it bit for bit.
 * Through the engine in this process (one open for all of them; the CLI's restore is
 * the same code and has its own tests), so that many trials fit in a few minutes.
 */
export async function restoreAll(repo: Repo, expected: readonly Expected[], scratch: string): Promise<void> {
  const opened = await Repository.open({ store: repo.store, credential: { kind: 'password', password: PASSWORD }, workers: 1 });
  try {
    for (const snap of expected) {
      const target = join(scratch, `restore-${snap.id.slice(0, 12)}`);
      await rm(target, { recursive: true, force: true });
      const summary = await opened.restore({ snapshot: snap.id, target });
      expect(summary.problems, `restore ${snap.id}`).toEqual([]);
      expect(await treeDigest(target), `snapshot ${snap.id} restores bit-exact`).toEqual(snap.digest);
      await rm(target, { recursive: true, force: true });
    }
  } finally {
    await opened.close();
  }
}

/** `check --read-data` must pass; orphan packs of a killed writer are warnings only. */
export async function expectCheckPasses(repo: Repo, what: string): Promise<void> {
  const run = await cli(['check', '--read-data'], repo);
  expect(run.exitCode, `check --read-data after ${what}:\n${run.stderr}${run.out}`).toBe(0);
}

export async function snapshotIds(repo: Repo): Promise<string[]> {
  const run = await cli(['snapshots', '--json'], repo);
  expect(run.exitCode, run.stderr).toBe(0);
  return run.out
    .split('\n')
    .filter((l) => l.includes('"type":"snapshot"'))
    .map((l) => (JSON.parse(l) as { id: string }).id)
    .sort();
}

const SESSION_AAD = Buffer.from('ferry-session-v1');
const STALE_AGE_MS = 16 * 60_000;
const objectKeys = new WeakMap<BlobStore, Buffer>();

/**
 * Makes every session marker look 16 minutes old: what the repository looks like when
 * the engine's stale threshold (15 min, not configurable for backups) has passed since
 * a writer died. Returns how many markers were aged.
 */
export async function ageSessionMarkers(repo: Repo): Promise<number> {
  let key = objectKeys.get(repo.store);
  if (key === undefined) {
    const opened = await Repository.open({ store: repo.store, credential: { kind: 'password', password: PASSWORD } });
    key = opened.keys.object;
    await opened.close();
    objectKeys.set(repo.store, key);
  }
  let aged = 0;
  for await (const entry of repo.store.list('sessions/')) {
    const plain = openSealed(key, SESSION_AAD, await repo.store.get(entry.key));
    if (!plain) continue;
    const record = JSON.parse(plain.toString('utf8')) as { started: number; heartbeat: number };
    const old = Date.now() - STALE_AGE_MS;
    const agedRecord = { ...record, started: Math.min(record.started, old), heartbeat: old };
    await repo.store.put(entry.key, seal(key, SESSION_AAD, [Buffer.from(JSON.stringify(agedRecord))]));
    aged++;
  }
  return aged;
}

export { MiB };
