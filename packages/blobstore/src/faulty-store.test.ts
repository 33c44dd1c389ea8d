import { describe, expect, it } from 'vitest';
import { collect, expectCode } from './conformance.fixture.js';
import { FaultyStore, mulberry32 } from './faulty-store.js';
import { MemoryStore } from './memory-store.js';

describe('FaultyStore', () => {
  it('fails exactly the nth matching call', async () => {
    const store = new FaultyStore(new MemoryStore(), { rules: [{ code: 'Unavailable', ops: ['put'], nth: 3 }] });
    await store.put('a', Buffer.from('1'));
    await store.get('a'); // not a put: does not count
    await store.put('b', Buffer.from('2'));
    await expectCode(store.put('c', Buffer.from('3')), 'Unavailable');
    await store.put('d', Buffer.from('4'));
    expect(store.injected).toEqual({ put: 1, get: 0, stat: 0, list: 0, delete: 0 });
  });

  it('fails calls under a key prefix, a limited number of times', async () => {
    const store = new FaultyStore(new MemoryStore(), { rules: [{ code: 'NoSpace', keyPrefix: 'data/', times: 2 }] });
    await store.put('index/1', Buffer.from('x'));
    await expectCode(store.put('data/1', Buffer.from('x')), 'NoSpace');
    await expectCode(store.stat('data/1'), 'NoSpace');
    await store.put('data/1', Buffer.from('x'));
    await expectCode(collect(new FaultyStore(store, { rules: [{ code: 'PermissionDenied', keyPrefix: 'data' }] }).list('data/')), 'PermissionDenied');
  });

  it('a torn put (before) stores nothing; a lost response (after) stores the object', async () => {
    const memory = new MemoryStore();
    const store = new FaultyStore(memory, { rules: [{ code: 'Unavailable', ops: ['put'], nth: 1 }, { code: 'Timeout', ops: ['put'], nth: 2, when: 'after' }] });
    await expectCode(store.put('torn', Buffer.from('x')), 'Unavailable');
    expect(await memory.stat('torn')).toBeUndefined();
    await expectCode(store.put('lost', Buffer.from('y')), 'Timeout');
    expect((await memory.get('lost')).toString()).toBe('y');
  });

  it('fails a seeded fraction of calls, the same ones for the same seed', async () => {
    const run = async (seed: number) => {
      const store = new FaultyStore(new MemoryStore(), { seed, rules: [{ code: 'Throttled', probability: 0.3 }] });
      const outcomes: boolean[] = [];
      for (let i = 0; i < 400; i++) outcomes.push(await store.stat(`k${i}`).then(() => true, () => false));
      return outcomes;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(await run(8)).not.toEqual(a);
    const failures = a.filter((ok) => !ok).length;
    expect(failures).toBeGreaterThan(90);
    expect(failures).toBeLessThan(150);
  });

  it('rules can be added and cleared at run time', async () => {
    const store = new FaultyStore(new MemoryStore());
    await store.put('k', Buffer.from('v'));
    store.addRule({ code: 'Internal', ops: ['get'] });
    await expectCode(store.get('k'), 'Internal');
    store.clearRules();
    expect((await store.get('k')).toString()).toBe('v');
  });

  it('rejects invalid keys as InvalidKey whatever the rules say', async () => {
    const store = new FaultyStore(new MemoryStore(), { rules: [{ code: 'Unavailable' }] });
    await expectCode(store.get('../x'), 'InvalidKey');
    expect(store.injected.get).toBe(0);
  });

  it('mulberry32 is uniform enough in [0, 1)', () => {
    const next = mulberry32(123);
    const values = Array.from({ length: 10_000 }, () => next());
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
  });
});
