import { describe, expect, it } from 'vitest';
import type { BlobStoreErrorCode } from './blobstore.js';
import { VirtualClock } from './clock.js';
import { collect, expectCode } from './conformance.fixture.js';
import { FaultyStore } from './faulty-store.js';
import { MemoryStore } from './memory-store.js';
import { RetryingStore, type RetryEvent } from './retrying-store.js';

function setup(rules: ConstructorParameters<typeof FaultyStore>[1] = {}, retry: { maxAttempts?: number; random?: () => number } = {}) {
  const memory = new MemoryStore();
  const faulty = new FaultyStore(memory, rules);
  const clock = new VirtualClock();
  const events: RetryEvent[] = [];
  const store = new RetryingStore(faulty, {
    clock,
    baseDelayMs: 100,
    maxDelayMs: 5_000,
    maxAttempts: retry.maxAttempts ?? 5,
    random: retry.random ?? (() => 0.999),
    onRetry: (e) => events.push(e),
  });
  return { memory, faulty, clock, events, store };
}

describe('RetryingStore', () => {
  for (const code of ['Unavailable', 'Throttled', 'Timeout'] as const) {
    it(`retries ${code} and succeeds`, async () => {
      const { memory, store, events } = setup({ rules: [{ code, ops: ['put'], times: 2 }] });
      await store.put('k', Buffer.from('v'));
      expect((await memory.get('k')).toString()).toBe('v');
      expect(events.map((e) => [e.op, e.key, e.attempt, e.error.code])).toEqual([
        ['put', 'k', 1, code],
        ['put', 'k', 2, code],
      ]);
    });
  }

  for (const code of ['NotFound', 'PermissionDenied', 'InvalidRange', 'NoSpace', 'AlreadyExists'] as BlobStoreErrorCode[]) {
    it(`does not retry ${code}`, async () => {
      const { faulty, store, events } = setup({ rules: [{ code, ops: ['get'], times: 1 }] });
      await expectCode(store.get('k'), code);
      expect(events).toEqual([]);
      expect(faulty.injected.get).toBe(1);
    });
  }

  it('does not retry errors that are not BlobStoreErrors', async () => {
    const events: RetryEvent[] = [];
    let calls = 0;
    const broken = new MemoryStore();
    broken.get = async () => {
      calls++;
      throw new TypeError('bug');
    };
    const store = new RetryingStore(broken, { clock: new VirtualClock(), onRetry: (e) => events.push(e) });
    await expect(store.get('k')).rejects.toThrow(TypeError);
    expect(calls).toBe(1);
    expect(events).toEqual([]);
  });

  it('backs off exponentially up to the cap, in virtual time', async () => {
    const { store, events, clock } = setup({ rules: [{ code: 'Unavailable', ops: ['stat'] }] }, { maxAttempts: 9 });
    await expectCode(store.stat('k'), 'Unavailable');
    const delays = events.map((e) => e.delayMs);
    // random() ≈ 1 → each delay sits at its ceiling: 100·2^(n-1), capped at 5000.
    expect(delays).toEqual([99, 199, 399, 799, 1598, 3196, 4995, 4995]);
    expect(clock.now()).toBe(delays.reduce((a, b) => a + b, 0));
  });

  it('draws each delay uniformly below its ceiling (full jitter)', async () => {
    const draws = [0, 0.5, 0.25];
    const { store, events } = setup({ rules: [{ code: 'Throttled', ops: ['delete'] }] }, { maxAttempts: 4, random: () => draws.shift() ?? 0 });
    await expectCode(store.delete('k'), 'Throttled');
    expect(events.map((e) => e.delayMs)).toEqual([0, 100, 100]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const { store, events, faulty } = setup({
      rules: [
        { code: 'Unavailable', ops: ['get'], times: 2 },
        { code: 'Timeout', ops: ['get'] },
      ],
    });
    const err = await expectCode(store.get('k'), 'Timeout');
    expect(err.retriable).toBe(true);
    expect(faulty.injected.get).toBe(5);
    expect(events.map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
  });

  it('stops waiting when the call is aborted during backoff', async () => {
    const faulty = new FaultyStore(new MemoryStore(), { rules: [{ code: 'Unavailable' }] });
    const controller = new AbortController();
    // Real clock, 10 s backoff: only the abort can end this call quickly.
    const store = new RetryingStore(faulty, { baseDelayMs: 10_000, random: () => 0.999, onRetry: () => setTimeout(() => controller.abort(), 20) });
    const started = performance.now();
    await expectCode(store.get('k', { signal: controller.signal }), 'Aborted');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(faulty.injected.get).toBe(1);
  });

  it('treats AlreadyExists after a lost response to its own conditional put as success', async () => {
    const { memory, store, events } = setup({ rules: [{ code: 'Unavailable', ops: ['put'], when: 'after', times: 1 }] });
    await store.put('keys/a', Buffer.from('mine'), { ifNotExists: true });
    expect(events.length).toBe(1);
    expect((await memory.get('keys/a')).toString()).toBe('mine');
  });

  it('still reports AlreadyExists when the existing object is someone else’s', async () => {
    const { memory, store } = setup({ rules: [{ code: 'Unavailable', ops: ['put'], times: 1 }] });
    await memory.put('keys/a', Buffer.from('theirs'));
    await expectCode(store.put('keys/a', Buffer.from('mine'), { ifNotExists: true }), 'AlreadyExists');
    expect((await memory.get('keys/a')).toString()).toBe('theirs');
  });

  it('reports AlreadyExists at once when no ambiguous failure came first', async () => {
    const { memory, store, events } = setup();
    await memory.put('keys/a', Buffer.from('same'));
    await expectCode(store.put('keys/a', Buffer.from('same'), { ifNotExists: true }), 'AlreadyExists');
    expect(events).toEqual([]);
  });

  it('restarts a failed listing without yielding any key twice', async () => {
    const { memory, store, events } = setup({ rules: [{ code: 'Unavailable', ops: ['list'], when: 'after', times: 2 }] });
    for (const k of ['a/1', 'a/2', 'a/3']) await memory.put(k, Buffer.from(k));
    const listed = await collect(store.list('a/'));
    expect(listed.map((e) => e.key).sort()).toEqual(['a/1', 'a/2', 'a/3']);
    expect(events.map((e) => e.op)).toEqual(['list', 'list']);
  });

  it('rejects a nonsensical maxAttempts', () => {
    expect(() => new RetryingStore(new MemoryStore(), { maxAttempts: 0 })).toThrow(/maxAttempts/);
  });
});
