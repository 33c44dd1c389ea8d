/** Messages between the main thread and blob-worker.ts. */
import type { BlobType } from './blob-codec.js';
import type { XattrRead } from './xattrs.js';
import type { EntryError, EntryStat } from './entry-stat.js';
import type { SmallFileJob, SmallFileResult } from './file-writer.js';

export interface WorkerInit {
  readonly id: Uint8Array;
  readonly blob: Uint8Array;
  readonly gear: Uint32Array;
  readonly chunk: { readonly minSize: number; readonly avgSize: number; readonly maxSize: number };
}

export type WorkerRequest =
  | { readonly seq: number; readonly op: 'encode'; readonly type: BlobType; readonly chunks: readonly Uint8Array[] }
  /** The next block of a byte stream; the worker chunks it (state kept per stream) and encodes the chunks it completes. */
  | { readonly seq: number; readonly op: 'stream'; readonly stream: number; readonly block: Uint8Array; readonly final: boolean }
  /**
   * The next bytes of a file stream, read by the worker itself from `fd` at `position` (up to
   * `length`), so file data never passes through the main thread. Once a read of the stream
   * comes up short (end of file) every later read of it returns nothing: a file that grows
   * meanwhile is stored as read up to that point, never with a gap.
   */
  | { readonly seq: number; readonly op: 'stream-read'; readonly stream: number; readonly fd: number; readonly position: number; readonly length: number; readonly final: boolean }
  | { readonly seq: number; readonly op: 'drop'; readonly stream: number }
  /** Reads whole files of at most `maxSize` bytes and encodes each as one data blob. */
  | { readonly seq: number; readonly op: 'read-encode'; readonly paths: readonly Uint8Array[]; readonly maxSize: number }
  /** Restores small files: decode their blobs, write them, apply metadata. */
  | { readonly seq: number; readonly op: 'write-files'; readonly jobs: readonly SmallFileJob[] }
  /** Lists a directory (names sorted bytewise) with lstat of every entry. */
  | { readonly seq: number; readonly op: 'list-dir'; readonly path: Uint8Array }
  | {
      readonly seq: number;
      readonly op: 'decode';
      readonly items: readonly DecodeItem[];
    };

/** Where a decoded blob goes instead of back to the main thread: written at `position` of `fd`. */
export interface WriteTarget {
  readonly fd: number;
  readonly position: number;
  /** The blob's raw length as the index has it: a blob that decodes to another length is not written. */
  readonly length: number;
}

export interface DecodeItem {
  readonly type: number;
  readonly id: Uint8Array;
  readonly sealed: Uint8Array;
  readonly write?: WriteTarget;
}

export interface EncodeResult {
  readonly id: Uint8Array;
  readonly sealed: Uint8Array;
  readonly rawLength: number;
}

/** A small file read and encoded by a worker; `encoded` is absent for an empty file. */
export type ReadEncodeResult =
  | { readonly ok: true; readonly size: number; readonly encoded?: EncodeResult }
  | { readonly ok: false; readonly tooLarge: true; readonly size: number }
  | { readonly ok: false; readonly tooLarge?: false; readonly error: EntryError };

export type ListDirResult =
  | {
      readonly ok: true;
      readonly names: readonly Uint8Array[];
      readonly stats: readonly (EntryStat | EntryError)[];
      /** Per entry its extended attributes as read in the worker; null when it has none and nothing went wrong. */
      readonly xattrs: readonly (XattrRead | null)[];
    }
  | { readonly ok: false; readonly error: EntryError };

/** A stream-read answer: the chunks completed and the bytes read (fewer than asked: end of file), or the read's error. */
export type StreamReadResult =
  | { readonly ok: true; readonly bytesRead: number; readonly results: readonly EncodeResult[] }
  | { readonly ok: false; readonly error: EntryError };

/** The raw blob, or the bytes written for an item with a write target; `code` is set when the write (not the blob) failed. */
export type DecodeResult = { readonly raw: Uint8Array } | { readonly written: number } | { readonly error: string; readonly code?: string };

export type WorkerResponse =
  | { readonly seq: number; readonly op: 'encode'; readonly results: readonly EncodeResult[] }
  | { readonly seq: number; readonly op: 'decode'; readonly results: readonly DecodeResult[] }
  | { readonly seq: number; readonly op: 'stream-read'; readonly result: StreamReadResult }
  | { readonly seq: number; readonly op: 'dropped' }
  | { readonly seq: number; readonly op: 'read-encode'; readonly results: readonly ReadEncodeResult[] }
  | { readonly seq: number; readonly op: 'list-dir'; readonly result: ListDirResult }
  | { readonly seq: number; readonly op: 'write-files'; readonly results: readonly SmallFileResult[] }
  | { readonly seq: number; readonly op: 'error'; readonly message: string };

/** Only a buffer that is the whole of an unshared ArrayBuffer may be transferred; a pooled one would detach others. */
export function ownsWholeBuffer(u: Uint8Array): boolean {
  return u.byteOffset === 0 && u.byteLength === u.buffer.byteLength && !(u.buffer instanceof SharedArrayBuffer);
}

/** Structured clone turns a Buffer into a plain Uint8Array; this is a Buffer over the same bytes (no copy). */
export function bufferView(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
