/**
 * Metadata of restored entries: owner, extended attributes (ACLs among them), mode and
 * nanosecond times, in that order: chown clears set-id bits and file capabilities, an
 * ACL sets the group bits, so the mode goes after both and the times last. Each step that
 * fails is a per-file problem naming what was lost; none fails the restore.
 * Also creates FIFOs and device nodes, which Node's fs cannot.
 */
import { lchownSync, chmodSync, fchownSync, fchmodSync } from 'node:fs';
import { makeSpecial, setTimes, setTimesFd, setXattr, splitDevice } from '@ferry/native';
import type { TreeNode, Xattr } from './api.js';

/** The metadata of a node, in a form that crosses a worker thread (no Buffers of names). */
export interface NodeMeta {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  /** Absent in v1 snapshots: the mtime stands in. */
  readonly atimeNs?: bigint;
  readonly xattrs?: readonly Xattr[];
}

export function metaOf(node: TreeNode): NodeMeta {
  return {
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    mtimeNs: node.mtimeNs,
    ...(node.atimeNs !== undefined ? { atimeNs: node.atimeNs } : {}),
    ...(node.xattrs && node.xattrs.length > 0 ? { xattrs: node.xattrs } : {}),
  };
}

/** What the target is: an open file, or a path whose last component is not followed. */
export type MetaTarget = { readonly fd: number; readonly path: Buffer } | { readonly path: Buffer; readonly symlink: boolean };

/** Applies `meta` to the target and returns one message per thing that could not be restored. */
export function applyMetaSync(target: MetaTarget, meta: NodeMeta): string[] {
  const problems: string[] = [];
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      problems.push(`could not restore ${what}: ${(err as Error).message}`);
    }
  };
  const fd = 'fd' in target ? target.fd : undefined;
  const symlink = 'symlink' in target && target.symlink;
  attempt(`owner ${meta.uid}:${meta.gid}`, () => (fd !== undefined ? fchownSync(fd, meta.uid, meta.gid) : lchownSync(target.path, meta.uid, meta.gid)));
  for (const x of meta.xattrs ?? []) {
    // No fsetxattr in the addon: the path is the file just created here (O_EXCL|O_NOFOLLOW), and l* does not follow.
    attempt(`extended attribute ${x.name}`, () => setXattr(target.path, x.name, Buffer.from(x.value)));
  }
  // A symlink's mode is always 0777 on Linux and cannot be changed.
  if (!symlink) attempt(`mode ${meta.mode.toString(8)}`, () => (fd !== undefined ? fchmodSync(fd, meta.mode) : chmodSync(target.path, meta.mode)));
  const times = { atimeNs: meta.atimeNs ?? meta.mtimeNs, mtimeNs: meta.mtimeNs };
  attempt('modification time', () => (fd !== undefined ? setTimesFd(fd, times) : setTimes(target.path, times, { noFollow: true })));
  return problems;
}

/**
 * Creates a FIFO or device node at `path` (nothing may be there). Device nodes need
 * CAP_MKNOD: without it the node is reported, not silently dropped.
 */
export function createSpecialSync(path: Buffer, node: TreeNode): void {
  if (node.type === 'fifo') return makeSpecial(path, { kind: 'fifo', mode: node.mode });
  if (node.type !== 'chardev' && node.type !== 'blockdev') throw new Error(`${node.type} is not a special file`);
  try {
    makeSpecial(path, { kind: node.type, mode: node.mode, ...splitDevice(node.rdev ?? 0n) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    throw Object.assign(new Error(`${node.type} not restored: creating device nodes needs root (CAP_MKNOD); run the restore as root to recreate it`), { code: 'EPERM' });
  }
}
