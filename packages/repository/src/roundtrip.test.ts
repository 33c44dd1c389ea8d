import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFile, appendFile, stat } from 'node:fs/promises';
import { describeTree, makeRandomTree, newRepository, tempDir } from './roundtrip.fixture.js';
import type { Repository } from './repository.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<{ repo: Repository; src: string; out: string }> {
  const r = await tempDir('ferry-repo-');
  const s = await tempDir('ferry-src-');
  const o = await tempDir('ferry-out-');
  const repo = await newRepository(r.path);
  cleanups.push(r.cleanup, s.cleanup, o.cleanup, () => repo.close());
  return { repo, src: s.path, out: o.path };
}

const identity = (path: string) => ({ kind: 'host' as const, host: 'test', path });

describe('backup and restore round trip', () => {
  it('restores a random tree bit-exact with metadata, symlinks, hardlinks and odd names', async () => {
    const { repo, src, out } = await setup();
    await makeRandomTree(src, 42);
    const summary = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    expect(summary.problems).toEqual([]);
    expect(summary.filesNew).toBeGreaterThan(40);
    const restored = await repo.restore({ snapshot: summary.snapshot.id, target: out });
    expect(restored.problems).toEqual([]);
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });

  it('a second backup of unchanged data reads nothing and adds almost nothing', async () => {
    const { repo, src } = await setup();
    await makeRandomTree(src, 7);
    const first = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    const second = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    expect(second.snapshot.parent).toBe(first.snapshot.id);
    expect(second.filesUnmodified).toBe(first.filesNew);
    expect(second.bytesRead).toBe(0);
    // Trees record atime, which the first backup's reads moved (relatime moves it once):
    // the second backup stores new trees but no data, a third stores nothing at all.
    expect(second.bytesAdded).toBeLessThan(64 * 1024);
    const third = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    expect(third.bytesRead).toBe(0);
    expect(third.blobsAdded).toBe(0);
    expect(third.snapshot.tree).toEqual(second.snapshot.tree);
  });

  it('re-reads only the changed file and deduplicates its unchanged chunks', async () => {
    const { repo, src, out } = await setup();
    const big = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    await writeFile(join(src, 'big'), big);
    await writeFile(join(src, 'small'), 'hello');
    await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    await appendFile(join(src, 'big'), 'tail');
    const second = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    expect(second.filesChanged).toBe(1);
    expect(second.filesUnmodified).toBe(1);
    expect(second.bytesRead).toBe(big.length + 4);
    expect(second.bytesDeduplicated).toBeGreaterThan(big.length / 2);
    await repo.restore({ snapshot: 'latest', target: out });
    expect((await stat(join(out, 'big'))).size).toBe(big.length + 4);
  });

  it('backs up a stream as one file without buffering it whole', async () => {
    const { repo, out } = await setup();
    async function* gen(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(1024 * 1024, i);
    }
    const s = await repo.backup({ source: { kind: 'stream', stream: gen(), fileName: 'dump.sql' }, identity: identity('stdin') });
    expect(s.bytesProcessed).toBe(20 * 1024 * 1024);
    await repo.restore({ snapshot: s.snapshot.id, target: out });
    expect((await stat(join(out, 'dump.sql'))).size).toBe(20 * 1024 * 1024);
  });

  it('fails the backup and writes no snapshot when the stream breaks', async () => {
    const { repo } = await setup();
    async function* broken(): AsyncIterable<Uint8Array> {
      yield Buffer.alloc(1024 * 1024, 1);
      throw new Error('pg_dump exited with code 1');
    }
    await expect(repo.backup({ source: { kind: 'stream', stream: broken(), fileName: 'dump.sql' }, identity: identity('stdin') })).rejects.toThrow(/pg_dump/);
    expect(await repo.listSnapshots()).toEqual([]);
  });
});
