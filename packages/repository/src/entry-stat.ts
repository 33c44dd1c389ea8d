/** The part of lstat the archiver uses, in a form that crosses worker_threads cheaply. */
import type { BigIntStats } from 'node:fs';
import type { NodeType } from './api.js';

export interface EntryStat {
  readonly type: NodeType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  readonly mtimeNs: bigint;
  readonly atimeNs: bigint;
  readonly ctimeNs: bigint;
  /** 512-byte blocks allocated: fewer than the size needs means the file has holes. */
  readonly blocks: number;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly rdev: bigint;
}

function nodeType(st: BigIntStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return st.isCharacterDevice() ? 'chardev' : 'blockdev';
}

export function toEntryStat(st: BigIntStats): EntryStat {
  return {
    type: nodeType(st),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    nlink: Number(st.nlink),
    mtimeNs: st.mtimeNs,
    atimeNs: st.atimeNs,
    ctimeNs: st.ctimeNs,
    blocks: Number(st.blocks),
    ino: st.ino,
    dev: st.dev,
    rdev: st.rdev,
  };
}

/** A failed lstat or read, reduced to what crosses a thread: the errno code and message. */
export interface EntryError {
  readonly code: string;
  readonly message: string;
}

export function toEntryError(err: unknown): EntryError {
  const e = err as NodeJS.ErrnoException;
  return { code: e.code ?? 'EUNKNOWN', message: e.message ?? String(err) };
}
