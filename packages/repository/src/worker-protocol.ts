/** Messages between the main thread and blob-worker.ts. */
import type { BlobType } from './blob-codec.js';

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
  | { readonly seq: number; readonly op: 'drop'; readonly stream: number }
  | {
      readonly seq: number;
      readonly op: 'decode';
      readonly items: readonly { readonly type: number; readonly id: Uint8Array; readonly sealed: Uint8Array }[];
    };

export interface EncodeResult {
  readonly id: Uint8Array;
  readonly sealed: Uint8Array;
  readonly rawLength: number;
}

export type DecodeResult = { readonly raw: Uint8Array } | { readonly error: string };

export type WorkerResponse =
  | { readonly seq: number; readonly op: 'encode'; readonly results: readonly EncodeResult[] }
  | { readonly seq: number; readonly op: 'decode'; readonly results: readonly DecodeResult[] }
  | { readonly seq: number; readonly op: 'dropped' }
  | { readonly seq: number; readonly op: 'error'; readonly message: string };

/** Only a buffer that is the whole of an unshared ArrayBuffer may be transferred; a pooled one would detach others. */
export function ownsWholeBuffer(u: Uint8Array): boolean {
  return u.byteOffset === 0 && u.byteLength === u.buffer.byteLength && !(u.buffer instanceof SharedArrayBuffer);
}
