import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStoreError, type BlobListEntry, type BlobStore, type BlobStoreErrorCode } from './blobstore.js';

export interface StoreUnderTest {
  readonly store: BlobStore;
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** Size of the objects in the atomic-overwrite test (default 4 MiB). */
  readonly largeObjectBytes?: number;
  /** Keys in the long-listing test; above 1000 to cross an S3 page (default 1050). */
  readonly manyKeys?: number;
}

/** The BlobStore contract (see blobstore.ts), checked point by point against a fresh store per test. */
export function describeBlobStoreConformance(
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
  options: ConformanceOptions = {},
): void {
  const largeBytes = options.largeObjectBytes ?? 4 * 1024 * 1024;
  const manyKeys = options.manyKeys ?? 1050;

  describe(`BlobStore conformance: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: BlobStore;
    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('describes itself without secrets and states its capabilities', () => {
      expect(store.description).toMatch(/\S/);
      expect(store.description).not.toMatch(/secret|password/i);
      expect(typeof store.capabilities.conditionalCreate).toBe('boolean');
    });

    it('round-trips bytes, including an empty object, and returns a Buffer', async () => {
      const data = randomBytes(1000);
      await store.put('data/ab/object', data);
      await store.put('empty', new Uint8Array(0));
      const got = await store.get('data/ab/object');
      expect(Buffer.isBuffer(got)).toBe(true);
      expect(got.equals(data)).toBe(true);
      expect((await store.get('empty')).length).toBe(0);
      expect(await store.stat('data/ab/object')).toEqual({ size: 1000 });
      expect(await store.stat('empty')).toEqual({ size: 0 });
    });

    it('stores an object given as parts as their concatenation (many parts, empty ones, none)', async () => {
      const parts = Array.from({ length: 1500 }, (_, i) => randomBytes(i % 7 === 0 ? 0 : 1 + (i % 300)));
      await store.put('data/cd/parts', parts);
      await store.put('no-parts', []);
      const whole = Buffer.concat(parts);
      expect((await store.get('data/cd/parts')).equals(whole)).toBe(true);
      expect(await store.stat('data/cd/parts')).toEqual({ size: whole.length });
      expect((await store.get('data/cd/parts', { range: { offset: 100, length: 50 } })).equals(whole.subarray(100, 150))).toBe(true);
      expect(await store.stat('no-parts')).toEqual({ size: 0 });
    });

    it('reads its own writes after an overwrite (get, stat, list)', async () => {
      await store.put('config', Buffer.from('first version'));
      await store.put('config', Buffer.from('second'));
      expect((await store.get('config')).toString()).toBe('second');
      expect(await store.stat('config')).toEqual({ size: 6 });
      expect(await collect(store.list('config'))).toEqual([{ key: 'config', size: 6 }]);
    });

    it('keeps what was put even if the caller reuses its buffer', async () => {
      const data = Buffer.from('original');
      await store.put('k', data);
      data.fill(0);
      expect((await store.get('k')).toString()).toBe('original');
      const got = await store.get('k');
      got.fill(0);
      expect((await store.get('k')).toString()).toBe('original');
    });

    it('reports a missing key as NotFound on get and undefined on stat', async () => {
      const err = await errorOf(store.get('missing/key'));
      expect(err.code).toBe('NotFound');
      expect(err.retriable).toBe(false);
      expect(err.message).toContain('missing/key');
      expect(await store.stat('missing/key')).toBeUndefined();
      await expectCode(store.get('missing/key', { range: { offset: 0, length: 1 } }), 'NotFound');
    });

    it('deletes idempotently', async () => {
      await store.put('snapshots/1', Buffer.from('x'));
      await store.delete('snapshots/1');
      await expectCode(store.get('snapshots/1'), 'NotFound');
      expect(await store.stat('snapshots/1')).toBeUndefined();
      expect(await collect(store.list('snapshots/'))).toEqual([]);
      await store.delete('snapshots/1');
      await store.delete('never/existed');
    });

    it('lists by string prefix, each key once, with sizes', async () => {
      const objects: Record<string, number> = {
        'data/00/a': 1,
        'data/00/b': 2,
        'data/01/c': 3,
        data0: 4,
        'index/x': 5,
        config: 6,
      };
      await Promise.all(Object.entries(objects).map(([key, size]) => store.put(key, randomBytes(size))));
      const listed = async (prefix: string) => sortByKey(await collect(store.list(prefix)));
      const expected = (...keys: string[]) => sortByKey(keys.map((key) => ({ key, size: objects[key] ?? -1 })));
      expect(await listed('')).toEqual(expected(...Object.keys(objects)));
      expect(await listed('data/')).toEqual(expected('data/00/a', 'data/00/b', 'data/01/c'));
      expect(await listed('data')).toEqual(expected('data/00/a', 'data/00/b', 'data/01/c', 'data0'));
      expect(await listed('data/0')).toEqual(expected('data/00/a', 'data/00/b', 'data/01/c'));
      expect(await listed('data/00/')).toEqual(expected('data/00/a', 'data/00/b'));
      expect(await listed('data/00/a')).toEqual(expected('data/00/a'));
      expect(await listed('conf')).toEqual(expected('config'));
      expect(await listed('nothing/')).toEqual([]);
    });

    it(`lists ${manyKeys} keys under one prefix completely (beyond one S3 page)`, async () => {
      const keys = Array.from({ length: manyKeys }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await inBatches(keys, 64, (key) => store.put(key, Buffer.from(key)));
      await store.put('other/outside', Buffer.from('x'));
      await store.put('manyx', Buffer.from('x')); // shares the string prefix "many", not "many/"
      const listed = await collect(store.list('many/'));
      expect(listed.length).toBe(manyKeys);
      expect(new Set(listed.map((e) => e.key))).toEqual(new Set(keys));
      expect(listed.every((e) => e.size === 'many/00000'.length)).toBe(true);
    });

    it('returns exactly the requested range and rejects ranges outside the object', async () => {
      const data = randomBytes(1000);
      await store.put('packs/p', data);
      const range = (offset: number, length: number) => store.get('packs/p', { range: { offset, length } });
      expect((await range(0, 10)).equals(data.subarray(0, 10))).toBe(true);
      expect((await range(990, 10)).equals(data.subarray(990))).toBe(true);
      expect((await range(123, 456)).equals(data.subarray(123, 579))).toBe(true);
      expect((await range(0, 1000)).equals(data)).toBe(true);
      expect((await range(500, 0)).length).toBe(0);
      expect((await range(1000, 0)).length).toBe(0);
      await expectCode(range(995, 10), 'InvalidRange');
      await expectCode(range(1000, 1), 'InvalidRange');
      await expectCode(range(5000, 10), 'InvalidRange');
      await expectCode(range(1001, 0), 'InvalidRange');
      await expectCode(range(-1, 5), 'InvalidRange');
      await expectCode(range(0, -5), 'InvalidRange');
      await expectCode(range(0.5, 5), 'InvalidRange');
    });

    it('creates conditionally with ifNotExists', async () => {
      await store.put('keys/k1', Buffer.from('mine'), { ifNotExists: true });
      const err = await errorOf(store.put('keys/k1', Buffer.from('theirs'), { ifNotExists: true }));
      expect(err.code).toBe('AlreadyExists');
      expect(err.retriable).toBe(false);
      expect((await store.get('keys/k1')).toString()).toBe('mine');
      await store.delete('keys/k1');
      await store.put('keys/k1', Buffer.from('again'), { ifNotExists: true });
      expect((await store.get('keys/k1')).toString()).toBe('again');
    });

    it('lets exactly one of racing conditional creates win', async () => {
      const contenders = Array.from({ length: 8 }, (_, i) => Buffer.from(`contender ${i}`));
      const results = await Promise.allSettled(contenders.map((c) => store.put('locks/race', c, { ifNotExists: true })));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      const stored = (await store.get('locks/race')).toString();
      if (store.capabilities.conditionalCreate) {
        expect(winners.length).toBe(1);
        for (const r of results) {
          if (r.status === 'rejected') expect((r.reason as BlobStoreError).code).toBe('AlreadyExists');
        }
        expect(stored).toBe(`contender ${winners[0]}`);
      } else {
        expect(winners.length).toBeGreaterThanOrEqual(1);
        expect(winners.map((i) => `contender ${i}`)).toContain(stored);
      }
    });

    it('rejects invalid keys and prefixes with InvalidKey', async () => {
      const invalid = ['', '/abs', 'a//b', 'trailing/', '.', '..', 'a/./b', 'a/../b', '../escape', 'nul\u0000', 'back\\slash', 'x'.repeat(1025)];
      for (const key of invalid) {
        await expectCode(store.put(key, Buffer.from('x')), 'InvalidKey');
        await expectCode(store.get(key), 'InvalidKey');
        await expectCode(store.stat(key), 'InvalidKey');
        await expectCode(store.delete(key), 'InvalidKey');
      }
      await expectCode(collect(store.list('/abs')), 'InvalidKey');
      await expectCode(collect(store.list('../')), 'InvalidKey');
      await expectCode(collect(store.list('a//')), 'InvalidKey');
      expect(await collect(store.list(''))).toEqual([]);
    });

    it('never shows a reader part of an object being overwritten', async () => {
      const versions = ['a', 'b', 'c'].map((ch) => Buffer.alloc(largeBytes, ch));
      await store.put('packs/big', versions[0]!);
      let writing = true;
      const writer = (async () => {
        try {
          for (let round = 0; round < 4; round++) {
            for (const v of versions) await store.put('packs/big', v);
          }
        } finally {
          writing = false;
        }
      })();
      const reader = async () => {
        let reads = 0;
        while (writing || reads === 0) {
          const got = await store.get('packs/big');
          expect(got.length).toBe(largeBytes);
          expect(versions.some((v) => v.equals(got)), 'a read mixed two versions').toBe(true);
          reads++;
        }
        return reads;
      };
      const [reads] = await Promise.all([Promise.all([reader(), reader()]), writer]);
      expect(reads.every((n) => n > 0)).toBe(true);
    });

    it('never shows a reader part of an object being created', async () => {
      const data = Buffer.alloc(largeBytes, 'n');
      const put = store.put('packs/new', data);
      let done = false;
      void put.finally(() => (done = true));
      while (!done) {
        try {
          expect((await store.get('packs/new')).equals(data)).toBe(true);
        } catch (err) {
          expect((err as BlobStoreError).code).toBe('NotFound');
        }
      }
      await put;
      expect((await store.get('packs/new')).equals(data)).toBe(true);
    });

    it('handles many concurrent puts of distinct keys', async () => {
      const keys = Array.from({ length: 64 }, (_, i) => `data/${(i % 4).toString(16).padStart(2, '0')}/blob-${i}`);
      await Promise.all(keys.map((key) => store.put(key, Buffer.from(key))));
      const got = await Promise.all(keys.map((key) => store.get(key)));
      expect(got.map((b) => b.toString())).toEqual(keys);
      expect((await collect(store.list('data/'))).length).toBe(keys.length);
    });

    it('rejects every call with Aborted when the signal has already fired', async () => {
      await store.put('present', Buffer.from('x'));
      const controller = new AbortController();
      controller.abort();
      const signal = controller.signal;
      await expectCode(store.put('absent', Buffer.from('x'), { signal }), 'Aborted');
      await expectCode(store.get('present', { signal }), 'Aborted');
      await expectCode(store.get('present', { signal, range: { offset: 0, length: 1 } }), 'Aborted');
      await expectCode(store.stat('present', { signal }), 'Aborted');
      await expectCode(store.delete('present', { signal }), 'Aborted');
      await expectCode(collect(store.list('', { signal })), 'Aborted');
      expect(await store.stat('absent')).toBeUndefined();
      expect(await store.stat('present')).toEqual({ size: 1 });
    });

    it('leaves nothing or the whole object when a put is aborted midway', async () => {
      const data = Buffer.alloc(largeBytes, 'z');
      const controller = new AbortController();
      const put = store.put('packs/aborted', data, { signal: controller.signal });
      setImmediate(() => controller.abort());
      const outcome = await put.then(
        () => 'done',
        (err: unknown) => (err as BlobStoreError).code,
      );
      expect(['done', 'Aborted']).toContain(outcome);
      const st = await store.stat('packs/aborted');
      if (st !== undefined) expect((await store.get('packs/aborted')).equals(data)).toBe(true);
      if (outcome === 'done') expect(st).toEqual({ size: largeBytes });
    });
  });
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export async function errorOf(promise: Promise<unknown>): Promise<BlobStoreError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(BlobStoreError);
    return err as BlobStoreError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export async function expectCode(promise: Promise<unknown>, code: BlobStoreErrorCode): Promise<BlobStoreError> {
  const err = await errorOf(promise);
  expect(err.code, err.message).toBe(code);
  return err;
}

function sortByKey(entries: BlobListEntry[]): BlobListEntry[] {
  return [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

async function inBatches<T>(items: readonly T[], size: number, run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}
