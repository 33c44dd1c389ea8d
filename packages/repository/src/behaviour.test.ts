import { afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { chmod, mkdir, rm, utimes, writeFile, symlink, readdir, readFile, stat, lstat, open, link, truncate, readdir as ls } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { LocalStore } from '@ferry/blobstore';
import { cleanupScope, describeTree, newRepository, PASSWORD } from './roundtrip.fixture.js';
import { Repository } from './repository.js';
import { pruneRepository } from './prune.js';
import { isRepositoryError } from './errors.js';
import type { Progress } from './api.js';

const scope = cleanupScope();
afterEach(scope.cleanup);
const dir = scope.dir;
async function repoIn(path: string): Promise<Repository> {
  const repo = await newRepository(path);
  scope.defer(() => repo.close());
  return repo;
}
const identity = { kind: 'host' as const, host: 'test', path: '/src' };
const backup = (repo: Repository, src: string, extra: Partial<Parameters<Repository['backup']>[0]> = {}) =>
  repo.backup({ source: { kind: 'paths', paths: [src] }, identity, ...extra });

describe('restore never writes outside the target', () => {
  it('replaces a symlink planted in the target instead of following it', async () => {
    const [repoDir, src, target, outside] = [await dir(), await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    await mkdir(join(src, 'sub'));
    await writeFile(join(src, 'sub', 'x'), 'data');
    await writeFile(join(src, 'file'), 'data');
    const s = await backup(repo, src);
    await symlink(outside, join(target, 'sub'));
    await writeFile(join(outside, 'victim'), 'keep me');
    await link(join(outside, 'victim'), join(target, 'file'));
    const r = await repo.restore({ snapshot: s.snapshot.id, target });
    expect(r.problems).toEqual([]);
    expect((await lstat(join(target, 'sub'))).isDirectory()).toBe(true);
    expect(await readdir(outside)).toEqual(['victim']);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('keep me');
    expect(await readFile(join(target, 'file'), 'utf8')).toBe('data');
  });

  it('restores a symlink from the snapshot as a link, without writing through it', async () => {
    const [repoDir, src, target, outside] = [await dir(), await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    await symlink(outside, join(src, 'escape'));
    await writeFile(join(src, 'zz'), 'after the link');
    const s = await backup(repo, src);
    await repo.restore({ snapshot: s.snapshot.id, target });
    expect((await lstat(join(target, 'escape'))).isSymbolicLink()).toBe(true);
    expect(await readdir(outside)).toEqual([]);
  });

  it('restores only an included subpath', async () => {
    const [repoDir, src, target] = [await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    await mkdir(join(src, 'a', 'b'), { recursive: true });
    await writeFile(join(src, 'a', 'b', 'c'), 'c');
    await writeFile(join(src, 'other'), 'o');
    const s = await backup(repo, src);
    await repo.restore({ snapshot: s.snapshot.id, target, include: 'a/b' });
    expect(await readFile(join(target, 'a', 'b', 'c'), 'utf8')).toBe('c');
    expect(await ls(target)).toEqual(['a']);
    await expect(repo.restore({ snapshot: s.snapshot.id, target, include: 'nope' })).rejects.toSatisfy((e) => isRepositoryError(e, 'PathNotFound'));
  });
});

describe('backup behaviour', () => {
  it('keeps holes of sparse files as holes', async () => {
    const [repoDir, src, target] = [await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    const path = join(src, 'sparse');
    await writeFile(path, 'head');
    await truncate(path, 64 * 1024 * 1024);
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from('tail'), 0, 4, 64 * 1024 * 1024 - 4);
    await fh.close();
    const s = await backup(repo, src);
    expect(s.bytesAdded).toBeLessThan(1024 * 1024);
    await repo.restore({ snapshot: s.snapshot.id, target });
    const st = await stat(join(target, 'sparse'));
    expect(st.size).toBe(64 * 1024 * 1024);
    expect(st.blocks * 512).toBeLessThan(4 * 1024 * 1024);
    const restored = await readFile(join(target, 'sparse'));
    expect(restored.subarray(0, 4).toString()).toBe('head');
    expect(restored.subarray(-4).toString()).toBe('tail');
  });

  it('honours exclude globs and ignore files', async () => {
    const [repoDir, src, target] = [await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    await mkdir(join(src, 'cache', 'deep'), { recursive: true });
    await mkdir(join(src, 'keep'));
    await writeFile(join(src, 'cache', 'deep', 'x'), 'x');
    await writeFile(join(src, 'keep', 'a.log'), 'log');
    await writeFile(join(src, 'keep', 'a.txt'), 'txt');
    await writeFile(join(src, 'keep', '.ferryignore'), '# comment\n*.txt\n');
    const s = await backup(repo, src, { excludes: ['cache', '**/*.log'], ignoreFileName: '.ferryignore' });
    await repo.restore({ snapshot: s.snapshot.id, target });
    expect((await ls(target)).sort()).toEqual(['keep']);
    expect((await ls(join(target, 'keep'))).sort()).toEqual(['.ferryignore']);
  });

  it('reports progress with totals, ending at the bytes processed', async () => {
    const [repoDir, src] = [await dir(), await dir()];
    const repo = await repoIn(repoDir);
    for (let i = 0; i < 5; i++) await writeFile(join(src, `f${i}`), randomBytes(700 * 1024));
    const events: Progress[] = [];
    const s = await backup(repo, src, { onProgress: (p) => events.push(p) });
    const last = events.at(-1)!;
    expect(last.op).toBe('backup');
    expect(last.filesDone).toBe(5);
    expect(last.bytesDone).toBe(s.bytesProcessed);
    expect(last.filesTotal).toBe(5);
    expect(last.bytesTotal).toBe(5 * 700 * 1024);
  });

  it('leaves the atimes of the files it reads as they were (O_NOATIME)', async () => {
    const [repoDir, src] = [await dir(), await dir()];
    const repo = await repoIn(repoDir);
    const files = { small: randomBytes(1000), large: randomBytes(9 * 1024 * 1024) };
    // An atime before the mtime: relatime would move it on the first read.
    const atime = new Date('2020-01-02T03:04:05Z');
    const mtime = new Date('2021-01-02T03:04:05Z');
    for (const [name, data] of Object.entries(files)) {
      await writeFile(join(src, name), data);
      await utimes(join(src, name), atime, mtime);
    }
    const s = await backup(repo, src);
    expect(s.filesNew).toBe(2);
    expect(s.bytesRead).toBe(files.small.length + files.large.length);
    for (const name of Object.keys(files)) expect((await stat(join(src, name))).atime.toISOString()).toBe(atime.toISOString());
  });

  it('deduplicates identical content across files and snapshots', async () => {
    const [repoDir, src] = [await dir(), await dir()];
    const repo = await repoIn(repoDir);
    const data = randomBytes(3 * 1024 * 1024);
    await writeFile(join(src, 'one'), data);
    await writeFile(join(src, 'two'), data);
    const s = await backup(repo, src);
    expect(s.bytesDeduplicated).toBe(data.length);
    expect(s.bytesAdded).toBeLessThan(data.length * 1.01);
  });
});

describe('unchanged directories', () => {
  const subtreesOf = async (repo: Repository, tree: readonly string[], name: string) =>
    (await repo.readTree(tree)).find((n) => n.name.toString() === name)?.subtrees;

  it('keep their parent tree blobs; a changed file or mode writes its directory and the ones above', async () => {
    const [repoDir, src, target] = [await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    for (const d of ['a', 'b']) {
      await mkdir(join(src, d));
      for (let i = 0; i < 3; i++) await writeFile(join(src, d, `f${i}`), `${d}${i}`);
    }
    // The first backup reads the files and so changes their atimes: the second one
    // records those, and from then on the trees are unchanged.
    await backup(repo, src);
    const first = await backup(repo, src);
    // An unchanged re-backup encodes no tree: the only ids it computes verify the parent
    // trees it reads (one per decode at most); writing trees again would add one each.
    const id = vi.spyOn(repo.codec, 'id');
    const decode = vi.spyOn(repo.codec, 'decode');
    const again = await backup(repo, src);
    expect(decode).toHaveBeenCalled();
    expect(id.mock.calls.length).toBeLessThanOrEqual(decode.mock.calls.length);
    vi.restoreAllMocks();
    expect(again.snapshot.tree).toEqual(first.snapshot.tree);
    expect(again.blobsAdded).toBe(0);

    await writeFile(join(src, 'a', 'f1'), 'changed');
    const changed = await backup(repo, src);
    expect(changed.snapshot.tree).not.toEqual(first.snapshot.tree);
    expect(await subtreesOf(repo, changed.snapshot.tree, 'a')).not.toEqual(await subtreesOf(repo, first.snapshot.tree, 'a'));
    expect(await subtreesOf(repo, changed.snapshot.tree, 'b')).toEqual(await subtreesOf(repo, first.snapshot.tree, 'b'));

    // Metadata alone (no content change) is a change too.
    await chmod(join(src, 'b', 'f2'), 0o600);
    const chmodded = await backup(repo, src);
    expect(await subtreesOf(repo, chmodded.snapshot.tree, 'b')).not.toEqual(await subtreesOf(repo, changed.snapshot.tree, 'b'));
    await repo.restore({ snapshot: chmodded.snapshot.id, target });
    expect(await describeTree(target)).toEqual(await describeTree(src));
  });

  it('are written again when an entry is gone or new', async () => {
    const [repoDir, src] = [await dir(), await dir()];
    const repo = await repoIn(repoDir);
    await mkdir(join(src, 'd'));
    await writeFile(join(src, 'd', 'x'), 'x');
    await writeFile(join(src, 'd', 'y'), 'y');
    const first = await backup(repo, src);
    await rm(join(src, 'd', 'y'));
    const fewer = await backup(repo, src);
    expect(fewer.snapshot.tree).not.toEqual(first.snapshot.tree);
    await writeFile(join(src, 'd', 'y'), 'y');
    await writeFile(join(src, 'd', 'z'), 'z');
    const more = await backup(repo, src);
    const names = (await repo.readTree((await subtreesOf(repo, more.snapshot.tree, 'd'))!)).map((n) => n.name.toString());
    expect(names).toEqual(['x', 'y', 'z']);
  });
});

describe('errors', () => {
  it('refuses a wrong password with WrongPassword naming the repository, and a second init', async () => {
    const repoDir = await dir();
    const repo = await repoIn(repoDir);
    const store = new LocalStore({ root: repoDir });
    const err = await Repository.open({ store, credential: { kind: 'password', password: 'guess' } }).catch((e: unknown) => e);
    expect(isRepositoryError(err, 'WrongPassword')).toBe(true);
    expect((err as Error).message).toContain(store.description);
    expect((err as Error).message).not.toContain('guess');
    await expect(Repository.init({ store, credential: PASSWORD, scryptN: 1024 })).rejects.toSatisfy((e) => isRepositoryError(e, 'RepositoryExists'));
    expect(repo.id).toMatch(/^[0-9a-f]{32}$/);
  });

  // 100 kB files are restored by the small-file batch; 5 MiB ones (several blobs) by blob writes from the workers.
  it.each([100_000, 5 * 1024 * 1024])('restores every intact file of %i bytes from a damaged pack and names the damaged one', async (size) => {
    const [repoDir, src, target] = [await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    await writeFile(join(src, 'a'), randomBytes(size));
    await writeFile(join(src, 'b'), randomBytes(size));
    const s = await backup(repo, src);
    const packs = (await readdir(join(repoDir, 'data'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    const sized = await Promise.all(packs.map(async (e) => ({ path: join(e.parentPath, e.name), size: (await stat(join(e.parentPath, e.name))).size })));
    const dataPack = sized.sort((x, y) => y.size - x.size)[0]!.path;
    const bytes = await readFile(dataPack);
    // Flip a byte at the start of the data pack: the first blob (file a or b) is damaged.
    bytes[20] = bytes[20]! ^ 0xff;
    await writeFile(dataPack, bytes);
    const fresh = await Repository.open({ store: new LocalStore({ root: repoDir }), credential: PASSWORD });
    scope.defer(() => fresh.close());
    const r = await fresh.restore({ snapshot: s.snapshot.id, target });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.path).toMatch(/^[ab]$/);
    expect(r.problems[0]!.message).toMatch(/authentication failed/);
    const intact = r.problems[0]!.path === 'a' ? 'b' : 'a';
    expect((await readFile(join(target, intact))).equals(await readFile(join(src, intact)))).toBe(true);
  });
});

describe('checkpoints', () => {
  it('resumes a killed backup from its partial snapshot without reading the finished files again', async () => {
    const [repoDir, src, out] = [await dir(), await dir(), await dir()];
    const repo = await repoIn(repoDir);
    for (let d = 0; d < 6; d++) {
      await mkdir(join(src, `d${d}`));
      for (let f = 0; f < 10; f++) await writeFile(join(src, `d${d}`, `f${f}`), randomBytes(200_000));
    }
    const ac = new AbortController();
    let checkpoints = 0;
    const killed = backup(repo, src, {
      checkpointIntervalMs: 1,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.filesDone >= 25) ac.abort();
      },
    });
    await expect(killed).rejects.toSatisfy((e) => isRepositoryError(e, 'Canceled'));
    const partial = (await repo.listSnapshots()).filter((s) => s.partial);
    checkpoints = partial.length;
    expect(checkpoints).toBe(1);
    await expect(repo.resolveSnapshot('latest')).rejects.toSatisfy((e) => isRepositoryError(e, 'SnapshotNotFound'));

    const resumed = await backup(repo, src);
    expect(resumed.snapshot.parent).toBe(partial[0]!.id);
    expect(resumed.filesUnmodified).toBeGreaterThan(0);
    expect(resumed.bytesRead).toBe((60 - resumed.filesUnmodified) * 200_000);
    expect(resumed.filesNew + resumed.filesUnmodified + resumed.filesChanged).toBe(60);
    expect((await repo.listSnapshots()).map((s) => s.id)).toEqual([resumed.snapshot.id]);
    await repo.restore({ snapshot: 'latest', target: out });
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });
});

describe('concurrent maintenance', () => {
  it('opens while a prune deletes a superseded index segment or a forget deletes a snapshot between listing and reading', async () => {
    const [repoDir, src] = [await dir(), await dir()];
    const repo = await repoIn(repoDir);
    await writeFile(join(src, 'f'), 'data');
    const s = await backup(repo, src);
    const store = new LocalStore({ root: repoDir });
    // Listings that still name objects already deleted, as a racing prune or forget leaves them.
    const racing: typeof store = Object.assign(Object.create(store) as typeof store, {
      list: async function* (prefix: string) {
        yield* store.list(prefix);
        if (prefix === 'index/') yield { key: `index/${'0'.repeat(64)}`, size: 100 };
        if (prefix === 'snapshots/') yield { key: `snapshots/${'1'.repeat(64)}`, size: 100 };
        if (prefix === 'prune/mark-') yield { key: `prune/mark-${'2'.repeat(32)}`, size: 100 };
        if (prefix === 'sessions/') yield { key: `sessions/${'3'.repeat(32)}`, size: 100 };
        if (prefix === 'keys/') yield { key: `keys/${'4'.repeat(32)}`, size: 100 };
      },
    });
    const opened = await Repository.open({ store: racing, credential: PASSWORD });
    scope.defer(() => opened.close());
    expect(opened.index.blobCount).toBe(repo.index.blobCount);
    expect((await opened.listSnapshots()).map((x) => x.id)).toEqual([s.snapshot.id]);
    await writeFile(join(src, 'g'), 'more');
    const again = await opened.backup({ source: { kind: 'paths', paths: [src] }, identity });
    expect(again.snapshot.parent).toBe(s.snapshot.id);
    await expect(pruneRepository(opened, { graceMs: 0 })).resolves.toMatchObject({ marksSwept: 0 });
  });
});
