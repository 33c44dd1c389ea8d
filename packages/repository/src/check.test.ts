import { afterEach, describe, expect, it } from 'vitest';
import { copyFile, mkdir, open as openFile, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { AAD, seal } from './crypto.js';
import { encodeIndexSegment } from './index-segment.js';
import { LocalStore, mulberry32 as prng } from '@ferry/blobstore';
import { checkRepository, type CheckProblem, type CheckReport } from './check.js';
import { Repository } from './repository.js';
import { newRepository, PASSWORD, randomBytesSeeded, tempDir } from './roundtrip.fixture.js';
import { packKey } from './pack.js';
import type { Progress, Snapshot } from './api.js';
import { isRepositoryError } from './errors.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Fixture {
  readonly repo: Repository;
  readonly dir: string;
  readonly src: string;
  readonly snapshots: Snapshot[];
}

/**
 * Three backups of a growing tree (each writes at least one data and one tree pack), so
 * the repository has several packs and files shared between snapshots.
 */
async function fixture(): Promise<Fixture> {
  const r = await tempDir('ferry-check-repo-');
  const s = await tempDir('ferry-check-src-');
  const repo = await newRepository(r.path);
  cleanups.push(r.cleanup, s.cleanup, () => repo.close());
  const rand = prng(11);
  await mkdir(join(s.path, 'docs'));
  await writeFile(join(s.path, 'docs', 'a.bin'), randomBytesSeeded(rand, 300_000));
  await writeFile(join(s.path, 'small.txt'), 'hello check\n');
  const snapshots: Snapshot[] = [];
  for (let i = 0; i < 3; i++) {
    await writeFile(join(s.path, `round-${i}.bin`), randomBytesSeeded(rand, 200_000 + i));
    const summary = await repo.backup({ source: { kind: 'paths', paths: [s.path] }, identity: { kind: 'host', host: 'test', path: s.path } });
    expect(summary.problems).toEqual([]);
    snapshots.push(summary.snapshot);
  }
  return { repo, dir: r.path, src: s.path, snapshots };
}

async function packFiles(dir: string): Promise<string[]> {
  const root = join(dir, 'data');
  const out: string[] = [];
  for (const sub of await readdir(root)) for (const name of await readdir(join(root, sub))) out.push(name);
  return out.sort();
}

/** Where the first data blob of a file of the snapshot is stored. */
async function firstBlobOf(repo: Repository, snapshot: Snapshot, path: string): Promise<{ blob: string; pack: string; offset: number }> {
  const { node } = await repo.findPath(snapshot, path);
  const blob = node!.content![0]!;
  const loc = repo.index.lookup(Buffer.from(blob, 'hex'))!;
  return { blob, pack: loc.packId!.toString('hex'), offset: loc.offset };
}

function find(problems: readonly CheckProblem[], kind: CheckProblem['kind'], object: string): CheckProblem {
  const found = problems.find((p) => p.kind === kind && p.object === object);
  expect(found, `${kind} problem about ${object} in ${JSON.stringify(problems, null, 1)}`).toBeDefined();
  return found!;
}

function expectClean(report: CheckReport): void {
  expect(report.errors).toEqual([]);
  expect(report.warnings).toEqual([]);
  expect(report.ok).toBe(true);
}

describe('checkRepository', () => {
  it('passes a clean repository, structure and read-data, and reports progress', async () => {
    const { repo, dir } = await fixture();
    const packs = await packFiles(dir);
    expect(packs.length).toBeGreaterThanOrEqual(6);

    const structure = await checkRepository(repo, {});
    expectClean(structure);
    expect(structure.stats).toMatchObject({ snapshots: 3, packs: packs.length, packsRead: 0 });
    expect(structure.stats.trees).toBeGreaterThanOrEqual(4);
    expect(structure.stats.blobs).toBe(repo.index.blobCount);

    const progress: Progress[] = [];
    const full = await checkRepository(repo, { readData: 'all', onProgress: (p) => progress.push(p) });
    expectClean(full);
    expect(full.stats.packsRead).toBe(packs.length);
    let total = 0;
    for (const id of packs) total += (await stat(join(dir, packKey(id)))).size;
    expect(full.stats.bytesRead).toBeGreaterThanOrEqual(total);
    const reading = progress.filter((p) => p.currentFile === 'reading data');
    expect(reading.every((p) => p.op === 'check' && p.bytesTotal === total)).toBe(true);
    expect(reading.at(-1)).toMatchObject({ bytesDone: total, filesDone: packs.length, filesTotal: packs.length });
  });

  it('names the damaged blob, its pack, the file and every snapshot holding it when a data pack byte flips', async () => {
    const { repo, dir, snapshots } = await fixture();
    const { blob, pack, offset } = await firstBlobOf(repo, snapshots[0]!, 'docs/a.bin');
    const file = await openFile(join(dir, packKey(pack)), 'r+');
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, offset + 40);
    await file.write(Buffer.from([byte[0]! ^ 0x01]), 0, 1, offset + 40);
    await file.close();

    // The header is intact, so only reading the data finds it.
    expectClean(await checkRepository(repo, {}));
    const report = await checkRepository(repo, { readData: 'all' });
    expect(report.ok).toBe(false);
    expect(report.errors).toHaveLength(1);
    const problem = find(report.errors, 'blob', blob);
    expect(problem.message).toContain(pack);
    expect(problem.message).toMatch(/authentication failed/);
    expect(problem.affects).toEqual(snapshots.map((s) => ({ snapshot: s.id, path: '/docs/a.bin' })));
  });

  it('names a deleted data pack and the files that need it, without reading data', async () => {
    const { repo, dir, snapshots } = await fixture();
    const { pack } = await firstBlobOf(repo, snapshots[2]!, 'round-2.bin');
    await rm(join(dir, packKey(pack)));
    const report = await checkRepository(repo, {});
    expect(report.ok).toBe(false);
    const problem = find(report.errors, 'pack', pack);
    expect(problem.message).toMatch(/missing/);
    expect(problem.affects).toContainEqual({ snapshot: snapshots[2]!.id, path: '/round-2.bin' });
    expect(problem.affects?.some((a) => a.snapshot !== snapshots[2]!.id)).toBe(false);
    expect(report.errors).toHaveLength(1);
  });

  it('names a deleted tree pack and the directories below which nothing can be restored', async () => {
    const { repo, dir, snapshots } = await fixture();
    const first = snapshots[0]!;
    const root = repo.index.lookup(Buffer.from(first.tree[0]!, 'hex'))!;
    const pack = root.packId!.toString('hex');
    await rm(join(dir, packKey(pack)));
    const report = await checkRepository(repo, {});
    const problem = find(report.errors, 'pack', pack);
    expect(problem.message).toMatch(/tree blob/);
    expect(problem.affects).toContainEqual({ snapshot: first.id, path: '/' });
  });

  it('reports a truncated index segment clearly; its packs become orphans and their blobs unindexed', async () => {
    const { repo, dir } = await fixture();
    const segments = (await readdir(join(dir, 'index'))).sort();
    const victim = `index/${segments[0]!}`;
    await truncate(join(dir, victim), 50);

    const opened = await Repository.open({ store: new LocalStore({ root: dir }), credential: PASSWORD }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isRepositoryError(opened, 'Corrupt')).toBe(true);
    expect((opened as Error).message).toContain(victim);

    // A repository opened before the damage is still checked through to the end.
    const report = await checkRepository(repo, {});
    expect(report.ok).toBe(false);
    expect(find(report.errors, 'index', victim).message).toMatch(/fails authentication/);
    expect(report.warnings.length).toBeGreaterThan(0);
    expect(report.warnings.every((w) => w.kind === 'pack' && /orphan/.test(w.message))).toBe(true);
    expect(report.errors.some((e) => e.kind === 'blob' || e.kind === 'tree')).toBe(true);
  });

  it('warns about an orphan pack but stays ok', async () => {
    const { repo, dir } = await fixture();
    const [some] = await packFiles(dir);
    const orphan = randomBytes(32).toString('hex');
    await mkdir(join(dir, 'data', orphan.slice(0, 2)), { recursive: true });
    await copyFile(join(dir, packKey(some!)), join(dir, packKey(orphan)));
    const report = await checkRepository(repo, { readData: 'all' });
    expect(report.ok).toBe(true);
    expect(report.errors).toEqual([]);
    expect(report.warnings).toHaveLength(1);
    expect(find(report.warnings, 'pack', orphan).message).toMatch(/orphan pack/);
  });

  it('reads only the selected subset of packs', async () => {
    const { repo, dir } = await fixture();
    const packs = await packFiles(dir);
    const byFirstByte = (n: number, m: number): number => packs.filter((p) => parseInt(p.slice(0, 2), 16) % m === n - 1).length;
    let sum = 0;
    for (const part of [1, 2, 3]) {
      const report = await checkRepository(repo, { readData: { part, of: 3 } });
      expectClean(report);
      expect(report.stats.packsRead).toBe(byFirstByte(part, 3));
      sum += report.stats.packsRead;
    }
    expect(sum).toBe(packs.length);

    const half = await checkRepository(repo, { readData: { fraction: 0.5, seed: 'x' } });
    expect(half.stats.packsRead).toBe(Math.round(packs.length / 2));
    const tiny = await checkRepository(repo, { readData: { fraction: 0.0001 } });
    expect(tiny.stats.packsRead).toBe(1);

    await expect(checkRepository(repo, { readData: { part: 4, of: 3 } })).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(checkRepository(repo, { readData: { fraction: 1.5 } })).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('finds damage in exactly the one N/M part that reads its pack', async () => {
    const { repo, dir, snapshots } = await fixture();
    const { pack, offset } = await firstBlobOf(repo, snapshots[1]!, 'round-1.bin');
    const path = join(dir, packKey(pack));
    const bytes = await readFile(path);
    bytes[offset + 20]! ^= 0xff;
    await writeFile(path, bytes);
    const packs = await packFiles(dir);
    let failed = 0;
    for (let part = 1; part <= 4; part++) {
      const report = await checkRepository(repo, { readData: { part, of: 4 } });
      if (!report.ok) {
        failed++;
        expect(report.errors[0]!.message).toContain(pack);
      }
    }
    expect(failed).toBe(1);
    expect(packs).toContain(pack);
  });

  it('reports a blob listed twice with different lengths and an index entry its pack header lacks', async () => {
    const { repo, dir, snapshots } = await fixture();
    const { blob, pack } = await firstBlobOf(repo, snapshots[0]!, 'docs/a.bin');
    const loc = repo.index.lookup(Buffer.from(blob, 'hex'))!;
    const stranger = randomBytes(32);
    const plain = encodeIndexSegment({
      supersedes: [],
      packs: [{ id: Buffer.from(pack, 'hex'), type: 0 }],
      blobs: [
        { id: Buffer.from(blob, 'hex'), packNo: 0, offset: loc.offset, length: loc.length, rawLength: loc.rawLength + 1 },
        { id: stranger, packNo: 0, offset: 0, length: 10, rawLength: 10 },
      ],
    });
    const sealed = seal(repo.keys.object, AAD.index, [plain]);
    await writeFile(join(dir, 'index', createHash('sha256').update(sealed).digest('hex')), sealed);
    const report = await checkRepository(repo, {});
    expect(report.ok).toBe(false);
    expect(find(report.errors, 'index', blob).message).toMatch(/listed twice with different contents/);
    expect(find(report.errors, 'index', stranger.toString('hex')).message).toMatch(/pack header does not list it/);
  });

  it('reports a damaged snapshot file and goes on with the others', async () => {
    const { repo, dir, snapshots } = await fixture();
    const victim = snapshots[1]!.id;
    const path = join(dir, 'snapshots', victim);
    const bytes = await readFile(path);
    bytes[bytes.length - 1]! ^= 0x80;
    await writeFile(path, bytes);
    const report = await checkRepository(repo, {});
    expect(report.ok).toBe(false);
    expect(report.errors).toHaveLength(1);
    expect(find(report.errors, 'snapshot', victim).message).toMatch(/fails authentication/);
    expect(report.stats.snapshots).toBe(2);
    await expect(repo.listSnapshots()).rejects.toMatchObject({ code: 'Corrupt' });
  });

  it('reports a corrupt key slot and a tampered config', async () => {
    const { repo, dir } = await fixture();
    await writeFile(join(dir, 'keys', '0'.repeat(32)), '{ not json');
    const config = JSON.parse(await readFile(join(dir, 'config'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'config'), JSON.stringify({ ...config, packSize: 1024 }));
    const report = await checkRepository(repo, {});
    expect(find(report.errors, 'key', `keys/${'0'.repeat(32)}`).message).toMatch(/not valid JSON/);
    expect(find(report.errors, 'config', 'config').message).toMatch(/MAC does not verify/);
  });

  it('stops with Canceled when the signal fires, before or while reading data', async () => {
    const { repo } = await fixture();
    const before = new AbortController();
    before.abort();
    await expect(checkRepository(repo, { signal: before.signal })).rejects.toMatchObject({ code: 'Canceled' });
    const during = new AbortController();
    const seen: string[] = [];
    const run = checkRepository(repo, {
      readData: 'all',
      signal: during.signal,
      onProgress: (p) => {
        seen.push(p.currentFile ?? '');
        if (p.currentFile === 'reading data') during.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'Canceled' });
    expect(seen).toContain('reading data');
  });
});
