/**
 * A restore target that cannot be created or written fails at once, naming the path and
 * the reason, before any data is read: under /proc (where Node's recursive mkdir spins
 * forever on ENOENT) and in an existing directory nothing can be created in.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { cleanupScope, newRepository } from './roundtrip.fixture.js';
import { isRepositoryError } from './errors.js';
import type { Repository } from './repository.js';

const scope = cleanupScope();
afterEach(scope.cleanup);

async function snapshotOf(repo: Repository, src: string): Promise<string> {
  await writeFile(join(src, 'file'), 'data');
  return (await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: { kind: 'host', host: 'test', path: '/src' } })).snapshot.id;
}

/** The restore's outcome, or 'hung' after two seconds (the old recursive mkdir never returned). */
async function outcome(p: Promise<unknown>): Promise<unknown> {
  return Promise.race([p.then(() => 'restored', (e: unknown) => e), new Promise((r) => setTimeout(() => r('hung'), 2_000).unref())]);
}

describe('restore target', () => {
  it('a target that cannot be created (under /proc) fails at once with the path and the reason', async () => {
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    const snapshot = await snapshotOf(repo, await scope.dir());
    const err = await outcome(repo.restore({ snapshot, target: '/proc/ferry-no-such-dir/restore' }));
    expect(isRepositoryError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/^cannot create restore target \/proc\/ferry-no-such-dir\/restore: mkdir \/proc\/ferry-no-such-dir failed \(ENOENT: .*\); choose a directory you can write to$/);
  });

  it('an existing target nothing can be created in fails at once, before anything is restored', async () => {
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    const snapshot = await snapshotOf(repo, await scope.dir());
    const err = await outcome(repo.restore({ snapshot, target: '/proc/self/fd' }));
    expect(isRepositoryError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/^restore target \/proc\/self\/fd is not writable \((ENOENT|EACCES|EPERM): .*\); choose a directory you can write to$/);
  });

  it('missing parents of a writable target are created, and no probe file is left behind', async () => {
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    const snapshot = await snapshotOf(repo, await scope.dir());
    const target = join(await scope.dir(), 'a', 'b', 'c');
    const r = await repo.restore({ snapshot, target });
    expect(r.problems).toEqual([]);
    expect((await stat(target)).isDirectory()).toBe(true);
    expect((await readdir(target)).some((n) => n.startsWith('.ferry-'))).toBe(false);
  });
});
