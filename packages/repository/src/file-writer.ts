/**
 * Synchronous restore of one small file, run inside a blob worker so that many small
 * files are decoded, written and given their metadata beside the main thread. The same
 * safety rules as restorer.ts: the file is created with O_EXCL|O_NOFOLLOW after removing
 * whatever non-directory was at the path, so nothing is written through a link.
 */
import { closeSync, constants, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import type { BlobCodec } from './blob-codec.js';
import { BLOB_DATA } from './blob-codec.js';
import { applyMetaSync, type NodeMeta } from './restore-metadata.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface SmallFileJob {
  readonly path: Uint8Array;
  readonly blobs: readonly { readonly id: Uint8Array; readonly sealed: Uint8Array }[];
  readonly meta: NodeMeta;
}

export interface SmallFileResult {
  /** Bytes written, or -1 if the file could not be restored. */
  readonly bytes: number;
  /** What went wrong: the whole file (bytes = -1) or only some metadata. */
  readonly problems: readonly string[];
}

function createExclusiveSync(path: Buffer): number {
  try {
    return openSync(path, CREATE, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!lstatSync(path).isDirectory()) unlinkSync(path);
    return openSync(path, CREATE, 0o600);
  }
}

function decodeAll(codec: BlobCodec, job: SmallFileJob): Buffer[] | string {
  const out: Buffer[] = [];
  for (const b of job.blobs) {
    const id = Buffer.from(b.id.buffer, b.id.byteOffset, b.id.byteLength);
    const raw = codec.decode(BLOB_DATA, id, b.sealed);
    if (typeof raw === 'string') return `data blob ${id.toString('hex')}: ${raw}`;
    out.push(raw);
  }
  return out;
}

/** Writes all of `raw` at `position`: short writes are continued; one that makes no progress throws rather than retrying forever. */
export function writeAllSync(fd: number, raw: Uint8Array, position: number): void {
  for (let off = 0; off < raw.length; ) {
    const written = writeSync(fd, raw, off, raw.length - off, position + off);
    if (written <= 0) throw new Error(`write made no progress at byte ${position + off}`);
    off += written;
  }
}

export function restoreSmallFile(codec: BlobCodec, job: SmallFileJob): SmallFileResult {
  const raws = decodeAll(codec, job);
  if (typeof raws === 'string') return { bytes: -1, problems: [raws] };
  // worker-protocol's bufferView, spelled out: that module imports this one's types.
  const path = Buffer.from(job.path.buffer, job.path.byteOffset, job.path.byteLength);
  let fd: number;
  try {
    fd = createExclusiveSync(path);
  } catch (err) {
    return { bytes: -1, problems: [(err as Error).message] };
  }
  let problems: string[] = [];
  let bytes = 0;
  try {
    for (const raw of raws) {
      writeAllSync(fd, raw, bytes);
      bytes += raw.length;
    }
    problems = applyMetaSync({ fd, path }, job.meta);
  } catch (err) {
    return { bytes: -1, problems: [(err as Error).message] };
  } finally {
    closeSync(fd);
  }
  return { bytes, problems };
}
