import {
  type BlobData,
  BlobStoreError,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type BlobStoreErrorCode,
  type CallOptions,
  type GetOptions,
  type PutOptions,
} from './blobstore.js';
import { assertValidKey } from './keys.js';
import type { BlobStoreOperation } from './retrying-store.js';

/**
 * One fault to inject. A call matches when `ops` (default all) contains its operation
 * and its key starts with `keyPrefix` (list: its prefix). Among matching calls the rule
 * fires on the `nth` (from 1) if given, else with `probability` (default 1), at most
 * `times` times (default unlimited).
 */
export interface FaultRule {
  readonly code: BlobStoreErrorCode;
  readonly ops?: readonly BlobStoreOperation[];
  readonly keyPrefix?: string;
  readonly nth?: number;
  readonly probability?: number;
  readonly times?: number;
  /**
   * 'before' (default): fail without reaching the store — for put, a torn write that
   * stored nothing. 'after': perform the call, then fail as if the response were lost.
   */
  readonly when?: 'before' | 'after';
}

export interface FaultyStoreOptions {
  readonly rules?: readonly FaultRule[];
  /** Seed of the generator behind `probability`, so a failing run can be replayed. */
  readonly seed?: number;
}

interface ActiveRule {
  readonly rule: FaultRule;
  matched: number;
  fired: number;
}

/** Fault injection for tests: wraps a store and fails the calls its rules select. */
export class FaultyStore implements BlobStore {
  readonly description: string;
  /** Faults injected so far, by operation. */
  readonly injected: Record<BlobStoreOperation, number> = { put: 0, get: 0, stat: 0, list: 0, delete: 0 };
  private rules: ActiveRule[] = [];
  private readonly random: () => number;

  constructor(
    private readonly inner: BlobStore,
    options: FaultyStoreOptions = {},
  ) {
    this.description = `faulty(${inner.description})`;
    this.random = mulberry32(options.seed ?? 1);
    for (const rule of options.rules ?? []) this.addRule(rule);
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  addRule(rule: FaultRule): void {
    this.rules.push({ rule, matched: 0, fired: 0 });
  }

  clearRules(): void {
    this.rules = [];
  }

  put(key: string, data: BlobData, options?: PutOptions): Promise<void> {
    return this.call('put', key, () => this.inner.put(key, data, options));
  }

  get(key: string, options?: GetOptions): Promise<Buffer> {
    return this.call('get', key, () => this.inner.get(key, options));
  }

  stat(key: string, options?: CallOptions): Promise<BlobStat | undefined> {
    return this.call('stat', key, () => this.inner.stat(key, options));
  }

  delete(key: string, options?: CallOptions): Promise<void> {
    return this.call('delete', key, () => this.inner.delete(key, options));
  }

  async *list(prefix: string, options?: CallOptions): AsyncIterable<BlobListEntry> {
    const fault = this.pick('list', prefix);
    if (fault?.when !== 'after') this.throwIf(fault, 'list', prefix);
    yield* this.inner.list(prefix, options);
    this.throwIf(fault, 'list', prefix);
  }

  private async call<T>(op: BlobStoreOperation, key: string, run: () => Promise<T>): Promise<T> {
    assertValidKey(key); // an invalid key is InvalidKey whatever the rules say
    const fault = this.pick(op, key);
    if (fault?.when !== 'after') this.throwIf(fault, op, key);
    const result = await run();
    this.throwIf(fault, op, key);
    return result;
  }

  // Every matching rule counts the call (so `nth` means the nth matching call overall);
  // the first rule that fires wins.
  private pick(op: BlobStoreOperation, key: string): FaultRule | undefined {
    let chosen: FaultRule | undefined;
    for (const active of this.rules) {
      const { rule } = active;
      if (rule.ops !== undefined && !rule.ops.includes(op)) continue;
      if (rule.keyPrefix !== undefined && !key.startsWith(rule.keyPrefix)) continue;
      active.matched++;
      if (chosen !== undefined || (rule.times !== undefined && active.fired >= rule.times)) continue;
      const fires = rule.nth !== undefined ? active.matched === rule.nth : this.random() < (rule.probability ?? 1);
      if (!fires) continue;
      active.fired++;
      chosen = rule;
    }
    if (chosen !== undefined) this.injected[op]++;
    return chosen;
  }

  private throwIf(fault: FaultRule | undefined, op: BlobStoreOperation, key: string): void {
    if (fault === undefined) return;
    throw new BlobStoreError(fault.code, `injected ${fault.code} fault in ${op} ${key} on ${this.description}`, { key });
  }
}

/** Small seeded PRNG (uniform in [0, 1)); deterministic across runs for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
