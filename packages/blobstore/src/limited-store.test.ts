import { describe, expect, it } from 'vitest';
import type { BlobStore } from './blobstore.js';
import { VirtualClock } from './clock.js';
import { expectCode } from './conformance.fixture.js';
import { LimitedStore } from './limited-store.js';
import { MemoryStore } from './memory-store.js';
import { TokenBucket } from './token-bucket.js';

const MiB = 1024 * 1024;

/** MemoryStore whose calls stay open until released, counting how many run at once. */
function gatedStore() {
  const inner = new MemoryStore();
  let inFlight = 0;
  let maxInFlight = 0;
  const gates: Array<() => void> = [];
  const gate = async () => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise<void>((resolve) => gates.push(resolve));
    inFlight--;
  };
  const store: BlobStore = {
    description: inner.description,
    capabilities: inner.capabilities,
    put: async (k, d, o) => (await gate(), inner.put(k, d, o)),
    get: async (k, o) => (await gate(), inner.get(k, o)),
    stat: async (k, o) => (await gate(), inner.stat(k, o)),
    delete: async (k, o) => (await gate(), inner.delete(k, o)),
    list: (p, o) => inner.list(p, o),
  };
  return {
    store,
    inner,
    stats: () => ({ inFlight, maxInFlight, waiting: gates.length }),
    releaseAll: () => gates.splice(0).forEach((g) => g()),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('LimitedStore', () => {
  it('never runs more than maxConcurrency calls at once', async () => {
    const gated = gatedStore();
    const store = new LimitedStore(gated.store, { maxConcurrency: 3 });
    const calls = Array.from({ length: 10 }, (_, i) => store.put(`k${i}`, Buffer.from('v')));
    await settle();
    expect(gated.stats().waiting).toBe(3);
    while (gated.stats().waiting > 0) {
      gated.releaseAll();
      await settle();
    }
    await Promise.all(calls);
    expect(gated.stats().maxInFlight).toBe(3);
  });

  it('lets a caller waiting for a slot give up with Aborted', async () => {
    const gated = gatedStore();
    const store = new LimitedStore(gated.store, { maxConcurrency: 1 });
    const first = store.stat('a');
    const controller = new AbortController();
    const second = store.stat('b', { signal: controller.signal });
    await settle();
    controller.abort();
    await expectCode(second, 'Aborted');
    gated.releaseAll();
    await first;
    expect(gated.stats().maxInFlight).toBe(1);
  });

  it('holds a slot only while list fetches, so the consumer may call the store meanwhile', async () => {
    const inner = new MemoryStore();
    for (const k of ['a/1', 'a/2', 'a/3']) await inner.put(k, Buffer.from(k));
    const store = new LimitedStore(inner, { maxConcurrency: 1 });
    const seen: string[] = [];
    for await (const entry of store.list('a/')) seen.push((await store.get(entry.key)).toString());
    expect(seen.sort()).toEqual(['a/1', 'a/2', 'a/3']);
  });

  it('holds uploads to the configured rate (virtual clock)', async () => {
    const clock = new VirtualClock();
    const store = new LimitedStore(new MemoryStore(), { uploadBytesPerSecond: 2 * MiB, clock });
    const payload = Buffer.alloc(MiB);
    // 4 writers × 5 objects of 1 MiB = 20 MiB; the first 2 MiB pass on the initial burst.
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 5; i++) await store.put(`w${w}/o${i}`, payload);
      }),
    );
    const seconds = clock.now() / 1000;
    const rate = (20 * MiB - 2 * MiB) / seconds;
    expect(rate / (2 * MiB)).toBeGreaterThan(0.97);
    expect(rate / (2 * MiB)).toBeLessThan(1.03);
  });

  it('holds downloads to the configured rate and leaves uploads alone', async () => {
    const clock = new VirtualClock();
    const inner = new MemoryStore();
    const store = new LimitedStore(inner, { downloadBytesPerSecond: 512 * 1024, clock });
    await store.put('big', Buffer.alloc(4 * MiB));
    expect(clock.now()).toBe(0);
    await store.get('big');
    await store.get('big', { range: { offset: 0, length: MiB } });
    // 5 MiB downloaded, 0.5 MiB of burst: 4.5 MiB at 0.5 MiB/s = 9 s.
    expect(clock.now()).toBeCloseTo(9_000, -1);
  });

  it('rejects nonsensical limits', () => {
    expect(() => new LimitedStore(new MemoryStore(), { maxConcurrency: 0 })).toThrow(/concurrency/);
    expect(() => new LimitedStore(new MemoryStore(), { uploadBytesPerSecond: -1 })).toThrow(/bandwidth/);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then paces to the rate', async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(1000, clock, 500);
    await bucket.take(500);
    expect(clock.now()).toBe(0);
    await bucket.take(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(10_000); // idle time refills at most the burst
    await bucket.take(1500);
    expect(clock.now()).toBe(12_000);
  });

  it('rejects a taker whose signal fires while it waits', async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(1, clock, 1);
    const controller = new AbortController();
    const waiting = bucket.take(1_000_000, controller.signal);
    controller.abort();
    await expectCode(waiting, 'Aborted');
  });
});
