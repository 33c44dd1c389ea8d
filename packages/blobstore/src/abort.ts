import { BlobStoreError } from './blobstore.js';

export function abortedError(what: string, key?: string, cause?: unknown): BlobStoreError {
  return new BlobStoreError('Aborted', `${what} was aborted`, { key, cause });
}

/** Throws `Aborted` when the signal has fired; call before each step that has effects. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string, key?: string): void {
  if (signal?.aborted) throw abortedError(what, key, signal.reason);
}
