/**
 * Describes a tree entry by entry with every field a bit-exact restore must keep, and
 * compares two descriptions. Content is hashed; hardlinks are compared as groups of
 * paths; sparse files by allocated blocks, within one filesystem block per hole.
 */
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { dataExtents, getXattr, listXattrs } from '@ferry/native';

export interface EntryRecord {
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  readonly size?: number;
  readonly sha256?: string;
  readonly target?: string;
  readonly rdev?: bigint;
  readonly xattrs: string;
  /** 512-byte blocks allocated, and the holes of the file (gaps between data extents). */
  readonly blocks?: number;
  readonly holes?: number;
  readonly blockSize: number;
}

export interface TreeRecord {
  /** Keyed by the path's bytes in latin1, so any name survives. */
  readonly entries: Map<string, EntryRecord>;
  /** Sorted groups of paths sharing an inode (files with more than one link). */
  readonly hardlinks: string[][];
  /** `getfacl -R -P -n` over the tree: an independent reading of every ACL. */
  readonly acls: string;
}

function typeOf(st: BigIntStats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return st.isCharacterDevice() ? 'chardev' : 'blockdev';
}

function xattrText(path: Buffer): string {
  return listXattrs(path)
    .sort()
    .map((n) => `${n}=${getXattr(path, n).toString('hex')}`)
    .join(' ');
}

function holesOf(path: Buffer, size: number): number {
  const fd = openSync(path, 'r');
  try {
    const extents = dataExtents(fd, size);
    let holes = 0;
    let at = 0;
    for (const e of extents) {
      if (e.offset > at) holes++;
      at = e.offset + e.length;
    }
    return at < size ? holes + 1 : holes;
  } finally {
    closeSync(fd);
  }
}

function describe(abs: Buffer, st: BigIntStats): EntryRecord {
  const type = typeOf(st);
  const base = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs: xattrText(abs), blockSize: Number(st.blksize) };
  if (type === 'file') {
    const size = Number(st.size);
    return { ...base, size, sha256: createHash('sha256').update(readFileSync(abs)).digest('hex'), blocks: Number(st.blocks), holes: holesOf(abs, size) };
  }
  if (type === 'symlink') return { ...base, target: readlinkSync(abs, { encoding: 'buffer' }).toString('hex') };
  if (type === 'chardev' || type === 'blockdev') return { ...base, rdev: st.rdev };
  return base;
}

export function walkTree(root: string): TreeRecord {
  const entries = new Map<string, EntryRecord>();
  const inodes = new Map<bigint, string[]>();
  const visit = (dir: Buffer, rel: string): void => {
    for (const name of readdirSync(dir, { encoding: 'buffer' })) {
      const abs = Buffer.concat([dir, Buffer.from('/'), name]);
      const key = rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`;
      const st = lstatSync(abs, { bigint: true });
      entries.set(key, describe(abs, st));
      if (st.isFile() && st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), key]);
      if (st.isDirectory()) visit(abs, key);
    }
  };
  visit(Buffer.from(root), '');
  const hardlinks = [...inodes.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
  const acls = execFileSync('getfacl', ['-R', '-P', '-n', '.'], { cwd: root, encoding: 'latin1', maxBuffer: 64 * 1024 * 1024 });
  return { entries, hardlinks, acls };
}

export interface CompareOptions {
  /** Compare allocated blocks (off for `tar -x`, which writes holes as zeros). */
  readonly allocation: boolean;
}

/** Every difference between `source` and `restored`, one line each; empty when identical. */
export function compareTrees(source: TreeRecord, restored: TreeRecord, options: CompareOptions): string[] {
  const out: string[] = [];
  const show = (key: string): string => JSON.stringify(Buffer.from(key, 'latin1').toString('utf8'));
  for (const [key, a] of source.entries) {
    const b = restored.entries.get(key);
    if (!b) {
      out.push(`${show(key)}: missing`);
      continue;
    }
    for (const field of ['type', 'mode', 'uid', 'gid', 'mtimeNs', 'size', 'sha256', 'target', 'rdev', 'xattrs'] as const) {
      if (a[field] !== b[field]) out.push(`${show(key)}: ${field} ${String(a[field])} != ${String(b[field])}`);
    }
    if (options.allocation && a.blocks !== undefined && b.blocks !== undefined) {
      const slack = (a.holes ?? 0) * (a.blockSize / 512);
      if (Math.abs(a.blocks - b.blocks) > slack) out.push(`${show(key)}: ${b.blocks} blocks allocated, source has ${a.blocks} (${a.holes} holes)`);
    }
  }
  for (const key of restored.entries.keys()) if (!source.entries.has(key)) out.push(`${show(key)}: not in the source`);
  if (JSON.stringify(source.hardlinks) !== JSON.stringify(restored.hardlinks)) out.push(`hardlink groups ${JSON.stringify(restored.hardlinks)} != ${JSON.stringify(source.hardlinks)}`);
  if (source.acls !== restored.acls) out.push(`getfacl output differs:\n${restored.acls}\n--- source ---\n${source.acls}`);
  return out;
}
