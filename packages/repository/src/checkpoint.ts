/**
 * Checkpoints of a running backup (docs/repository-format.md §8, §9): the parts of the
 * tree finished so far, stored as a *partial* snapshot after every pack they need is
 * uploaded and indexed. A backup killed at 90% is resumed by the next run, which takes
 * the newest partial snapshot as its parent and so neither re-reads nor re-uploads the
 * files the partial one holds.
 */
import type { TreeNode } from './api.js';
import { compareNames } from './tree.js';

/** One directory that is being backed up: its finished entries and its open subdirectories. */
export class DirProgress {
  private readonly done = new Map<string, TreeNode>();
  private readonly open = new Map<string, DirProgress>();

  constructor(readonly base: TreeNode | undefined) {}

  /** A subdirectory that is being walked; it moves to the finished entries when its node arrives. */
  child(base: TreeNode): DirProgress {
    const dir = new DirProgress(base);
    this.open.set(base.name.toString('latin1'), dir);
    return dir;
  }

  finished(node: TreeNode): void {
    const key = node.name.toString('latin1');
    this.open.delete(key);
    this.done.set(key, node);
  }

  /**
   * The entries to store for a checkpoint: finished ones as they are, open
   * subdirectories with the subtrees `storeOpen` builds for their finished parts.
   */
  async partialNodes(storeOpen: (dir: DirProgress) => Promise<string[]>): Promise<TreeNode[]> {
    const nodes = [...this.done.values()];
    for (const dir of this.open.values()) nodes.push({ ...dir.base!, subtrees: await storeOpen(dir) });
    return nodes.sort((a, b) => compareNames(a.name, b.name));
  }
}
