/**
 * Reads the parent snapshot's directory listings for a backup a few directories ahead of
 * the walker: on S3 every listing is a ranged GET, and read one at a time when the walker
 * enters each directory an unchanged re-backup waited on them in series (most of its time).
 * At most `ahead` listings are held, so memory stays bounded by the window, not the tree.
 */
import type { TreeNode } from './api.js';
import { observed } from './concurrency.js';
import { throwIfAborted } from './errors.js';

export class ParentTrees {
  private readonly pending = new Map<string, Promise<TreeNode[]>>();

  constructor(
    private readonly read: (ids: readonly string[], signal?: AbortSignal) => Promise<TreeNode[]>,
    private readonly signal: AbortSignal | undefined,
    private readonly ahead = 8,
  ) {}

  /** The listing stored as tree blobs `ids`, prefetched or read now. */
  get(ids: readonly string[]): Promise<TreeNode[]> {
    const key = ids.join(',');
    const early = this.pending.get(key);
    if (early === undefined) return this.read(ids, this.signal);
    this.pending.delete(key);
    return early.then((nodes) => {
      throwIfAborted(this.signal, 'backup');
      return nodes;
    });
  }

  /** Starts reading a listing the walker will soon want, if the window has room. */
  prefetch(ids: readonly string[]): void {
    const key = ids.join(',');
    if (this.pending.size >= this.ahead || this.pending.has(key)) return;
    // Without the signal: a prefetch is one small read, and a listener per read in flight
    // would push the caller's AbortSignal past Node's listener warning. get() checks it.
    this.pending.set(key, observed(this.read(ids)));
  }
}
