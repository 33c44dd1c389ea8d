import { describe, expect, it } from 'vitest';
import type { TreeNode } from './api.js';
import { ParentTrees } from './parent-trees.js';

describe('parent listings read ahead of the walker', () => {
  it('serves a prefetched listing without reading it again, and holds at most the window', async () => {
    const reads: string[] = [];
    const read = async (ids: readonly string[]): Promise<TreeNode[]> => {
      reads.push(ids.join(','));
      return [];
    };
    const trees = new ParentTrees(read, undefined, 2);
    trees.prefetch(['a']);
    trees.prefetch(['a']);
    trees.prefetch(['b']);
    trees.prefetch(['c']); // window full: not read
    expect(reads).toEqual(['a', 'b']);
    await trees.get(['a']);
    await trees.get(['c']);
    expect(reads).toEqual(['a', 'b', 'c']);
    trees.prefetch(['d']); // 'a' was taken, so there is room again
    expect(reads).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses a prefetched listing once the backup is canceled', async () => {
    const controller = new AbortController();
    const trees = new ParentTrees(async () => [], controller.signal);
    trees.prefetch(['a']);
    controller.abort();
    await expect(trees.get(['a'])).rejects.toMatchObject({ code: 'Canceled' });
  });
});
