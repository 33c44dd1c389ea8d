/**
 * The set of blobs that snapshots reference, built by walking every snapshot's trees
 * once each. Kept in an IdTable (about 40 bytes per blob), not a Set of strings.
 */
import type { Snapshot } from './api.js';
import { throwIfAborted } from './errors.js';
import { IdTable } from './id-table.js';
import type { RepositoryCore } from './core.js';

export class BlobSet {
  private readonly table = new IdTable({ recordSize: 32 });

  /** Returns true if the id was not in the set yet. */
  add(id: Buffer): boolean {
    return this.table.add(id) >= 0;
  }

  has(id: Uint8Array): boolean {
    return this.table.find(id) >= 0;
  }

  get size(): number {
    return this.table.size;
  }
}

export async function referencedBlobs(repo: RepositoryCore, snapshots: readonly Snapshot[], signal?: AbortSignal): Promise<BlobSet> {
  const used = new BlobSet();
  const visit = async (treeIds: readonly string[]): Promise<void> => {
    const fresh = treeIds.filter((hex) => used.add(Buffer.from(hex, 'hex')));
    if (fresh.length === 0) return;
    throwIfAborted(signal, 'prune');
    for (const hex of fresh) {
      for (const node of await repo.readTree([hex], signal)) {
        for (const c of node.content ?? []) used.add(Buffer.from(c, 'hex'));
        if (node.subtrees) await visit(node.subtrees);
      }
    }
  };
  for (const snap of snapshots) await visit(snap.tree);
  return used;
}
