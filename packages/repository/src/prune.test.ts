import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readdir, writeFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { LocalStore } from '@ferry/blobstore';
import { cleanupScope, describeTree, newRepository, PASSWORD } from './roundtrip.fixture.js';
import { Repository } from './repository.js';
import { pruneRepository } from './prune.js';
import { Marker } from './sessions.js';
import { isRepositoryError } from './errors.js';
import { snapshotKey } from './snapshot-store.js';

const scope = cleanupScope();
afterEach(scope.cleanup);
const dir = scope.dir;
async function packCount(repoDir: string): Promise<number> {
  return (await readdir(join(repoDir, 'data'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
}
const identity = (path: string) => ({ kind: 'host' as const, host: 'h', path });
const now = { t: Date.parse('2026-01-01T00:00:00Z') };
const clock = { now: () => now.t };

async function setup() {
  const repoDir = await dir();
  await newRepository(repoDir).then((r) => r.close());
  const open = async () => {
    const repo = await Repository.open({ store: new LocalStore({ root: repoDir }), credential: PASSWORD, clock });
    scope.defer(() => repo.close());
    return repo;
  };
  return { repoDir, open };
}

describe('prune', () => {
  it('marks garbage first and deletes it only in a later run after the grace period', async () => {
    const { repoDir, open } = await setup();
    const [a, b, out] = [await dir(), await dir(), await dir()];
    await writeFile(join(a, 'x'), randomBytes(3 << 20));
    await writeFile(join(b, 'y'), randomBytes(3 << 20));
    const repo = await open();
    const sa = await repo.backup({ source: { kind: 'paths', paths: [a] }, identity: identity(a) });
    const sb = await repo.backup({ source: { kind: 'paths', paths: [b] }, identity: identity(b) });
    await repo.store.delete(snapshotKey(sa.snapshot.id));
    const before = await packCount(repoDir);

    const first = await pruneRepository(repo, { graceMs: 60_000 });
    expect(first.packsMarked).toBeGreaterThan(0);
    expect(first.packsDeleted).toBe(0);
    expect(await packCount(repoDir)).toBe(before);

    const early = await pruneRepository(await open(), { graceMs: 60_000 });
    expect(early.packsDeleted).toBe(0);
    expect(early.marksPostponed[0]?.reason).toMatch(/grace/);

    now.t += 120_000;
    const second = await pruneRepository(await open(), { graceMs: 60_000 });
    expect(second.packsDeleted).toBe(first.packsMarked);
    expect(second.bytesFreed).toBeGreaterThan(3 << 20);
    expect(await packCount(repoDir)).toBe(before - second.packsDeleted);

    const fresh = await open();
    await fresh.restore({ snapshot: sb.snapshot.id, target: out });
    expect(await describeTree(out)).toEqual(await describeTree(b));
    expect((await readdir(join(repoDir, 'index'))).length).toBe(1);
  });

  it('postpones the sweep while a backup that started before the mark is alive, then rescues its data', async () => {
    const { open } = await setup();
    const [a, out] = [await dir(), await dir()];
    await writeFile(join(a, 'x'), randomBytes(2 << 20));
    const repo = await open();
    const s1 = await repo.backup({ source: { kind: 'paths', paths: [a] }, identity: identity(a) });
    // A long-running backup opens its session now (before prune marks anything).
    const live = await Marker.startSession({ store: repo.store, objectKey: repo.keys.object, clock });
    await repo.store.delete(snapshotKey(s1.snapshot.id));
    const mark = await pruneRepository(await open(), { graceMs: 0 });
    expect(mark.packsMarked).toBeGreaterThan(0);
    now.t += 1000;
    const blocked = await pruneRepository(await open(), { graceMs: 0 });
    expect(blocked.packsDeleted).toBe(0);
    expect(blocked.marksPostponed[0]?.reason).toMatch(/still running/);
    // The live backup finishes, deduplicating against the marked data it read before the mark.
    const again = await (await open()).backup({ source: { kind: 'paths', paths: [a] }, identity: identity(a), parent: 'none' });
    await live.release();
    now.t += 1000;
    const swept = await pruneRepository(await open(), { graceMs: 0 });
    expect(swept.marksSwept).toBe(1);
    await (await open()).restore({ snapshot: again.snapshot.id, target: out });
    expect(await describeTree(out)).toEqual(await describeTree(a));
  });

  it('ignores the marker of a dead writer, and a backup after a mark does not reuse condemned packs', async () => {
    const { open, repoDir } = await setup();
    const [a, out] = [await dir(), await dir()];
    await writeFile(join(a, 'x'), randomBytes(2 << 20));
    const repo = await open();
    const s1 = await repo.backup({ source: { kind: 'paths', paths: [a] }, identity: identity(a) });
    await Marker.startSession({ store: repo.store, objectKey: repo.keys.object, clock }); // never released: a killed writer
    await repo.store.delete(snapshotKey(s1.snapshot.id));
    await pruneRepository(await open(), { graceMs: 0 });
    const s2 = await (await open()).backup({ source: { kind: 'paths', paths: [a] }, identity: identity(a), parent: 'none' });
    expect(s2.bytesAdded).toBeGreaterThan(2 << 20);
    now.t += 16 * 60_000;
    const swept = await pruneRepository(await open(), { graceMs: 0 });
    expect(swept.marksSwept).toBe(1);
    expect(swept.packsDeleted).toBeGreaterThan(0);
    await (await open()).restore({ snapshot: s2.snapshot.id, target: out });
    expect(await describeTree(out)).toEqual(await describeTree(a));
    expect((await readdir(join(repoDir, 'sessions'))).length).toBeLessThanOrEqual(1);
  });

  it('repacks mostly unused packs, keeps what snapshots need and reports a dry run without writing', async () => {
    const { open, repoDir } = await setup();
    const [a, out] = [await dir(), await dir()];
    for (let i = 0; i < 10; i++) await writeFile(join(a, `f${i}`), randomBytes(100_000));
    const repo = await open();
    const s1 = await repo.backup({ source: { kind: 'paths', paths: [a] }, identity: identity(a) });
    for (let i = 1; i < 10; i++) await rm(join(a, `f${i}`));
    const s2 = await repo.backup({ source: { kind: 'paths', paths: [a] }, identity: identity(a) });
    await repo.store.delete(snapshotKey(s1.snapshot.id));
    const files = async () => (await readdir(repoDir, { recursive: true })).sort();
    const before = await files();
    const dry = await pruneRepository(await open(), { graceMs: 0, dryRun: true });

    expect(dry.packsRepacked).toBe(1);
    expect(await files()).toEqual(before);
    const real = await pruneRepository(await open(), { graceMs: 0 });

    expect(real.blobsRepacked).toBe(1);
    now.t += 1000;
    const swept = await pruneRepository(await open(), { graceMs: 0 });
    expect(swept.packsDeleted).toBeGreaterThanOrEqual(1);
    await (await open()).restore({ snapshot: s2.snapshot.id, target: out });
    expect(await describeTree(out)).toEqual(await describeTree(a));
  });

  it('refuses to run beside another live prune, and breaks a stale prune lock', async () => {
    const { open } = await setup();
    const repo = await open();
    const held = await Marker.lockPrune({ store: repo.store, objectKey: repo.keys.object, clock }, 60_000);
    expect(held).toBeInstanceOf(Marker);
    await expect(pruneRepository(await open(), { graceMs: 0 })).rejects.toSatisfy((e) => isRepositoryError(e, 'Busy'));
    now.t += 16 * 60_000;
    await expect(pruneRepository(await open(), { graceMs: 0 })).resolves.toMatchObject({ dryRun: false });
  });
});
