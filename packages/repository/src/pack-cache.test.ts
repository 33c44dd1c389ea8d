import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FaultyStore, LocalStore } from '@ferry/blobstore';
import { cleanupScope, describeTree, makeRandomTree, PASSWORD } from './roundtrip.fixture.js';
import { Repository } from './repository.js';

const scope = cleanupScope();
afterEach(() => scope.cleanup());

/** A repository with one snapshot of a random tree; returns what opening it again needs. */
async function backedUp(): Promise<{ store: LocalStore; repoRoot: string; src: string; snapshot: string }> {
  const [repoDir, src] = [await scope.dir(), await scope.dir()];
  const store = new LocalStore({ root: repoDir });
  await Repository.init({ store, credential: PASSWORD, scryptN: 1024 });
  const repo = await Repository.open({ store, credential: PASSWORD });
  await makeRandomTree(src, 7, { files: 40 });
  const { snapshot } = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: { kind: 'host', host: 't', path: src } });
  await repo.close();
  return { store, repoRoot: repoDir, src, snapshot: snapshot.id };
}

async function open(store: FaultyStore | LocalStore, cacheDir: string): Promise<Repository> {
  const repo = await Repository.open({ store, credential: PASSWORD, cacheDir });
  scope.defer(() => repo.close());
  return repo;
}

/** Every tree of a snapshot, walked from its root (what a restore or a re-backup reads). */
async function walk(repo: Repository, snapshot: string): Promise<number> {
  let count = 0;
  const visit = async (trees: readonly string[]): Promise<void> => {
    for (const node of await repo.readTree(trees)) {
      count++;
      if (node.type === 'dir' && node.subtrees) await visit(node.subtrees);
    }
  };
  await visit((await repo.loadSnapshot(snapshot)).tree);
  return count;
}

/** The store with every read of a pack failing: what is read then came from the cache. */
const packsDown = (store: LocalStore): FaultyStore => new FaultyStore(store, { rules: [{ code: 'Unavailable', ops: ['get'], keyPrefix: 'data/' }] });

describe('tree pack cache', () => {
  it('serves trees from the local copy once read, and still restores data from the store', async () => {
    const { store, src, snapshot } = await backedUp();
    const cache = await scope.dir();
    const entries = await walk(await open(store, cache), snapshot);
    expect(entries).toBeGreaterThan(40);

    const offline = await open(packsDown(store), cache);
    expect(await walk(offline, snapshot)).toBe(entries);
    await expect(walk(await open(packsDown(store), await scope.dir()), snapshot)).rejects.toThrow(/cannot read pack/);

    const out = await scope.dir();
    const restored = await (await open(store, cache)).restore({ snapshot, target: out });
    expect(restored.problems).toEqual([]);
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });

  it('keeps the sealed bytes under the repository id and drops a damaged copy for the store one', async () => {
    const { store, repoRoot, snapshot } = await backedUp();
    const cache = await scope.dir();
    const first = await open(store, cache);
    const entries = await walk(first, snapshot);
    const packDir = join(cache, first.id, 'tree-packs');
    const [fan] = await readdir(packDir);
    const [pack] = await readdir(join(packDir, fan!));
    const cached = await readFile(join(packDir, fan!, pack!));
    expect(cached.equals(await readFile(join(repoRoot, 'data', fan!, pack!)))).toBe(true);

    await writeFile(join(packDir, fan!, pack!), Buffer.alloc(cached.length, 0x5a));
    expect(await walk(await open(store, cache), snapshot)).toBe(entries);
    expect((await readFile(join(packDir, fan!, pack!))).equals(cached)).toBe(true);
  });

  it('reads on when the cache cannot be written (its folder is under a regular file)', async () => {
    const { store, snapshot } = await backedUp();
    const notADir = join(await scope.dir(), 'file');
    await writeFile(notADir, 'x');
    const repo = await open(store, notADir);
    expect(await walk(repo, snapshot)).toBeGreaterThan(40);
    expect(await readFile(notADir, 'utf8')).toBe('x');
  });
});
