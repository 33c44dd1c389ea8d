/**
 * Worker-thread side of the pool: chunks byte streams, hashes, compresses, encrypts
 * (encode) and verifies, decrypts, decompresses (decode) blobs, so both cores do the CPU
 * work of a backup or restore while the main thread reads, writes and keeps the index.
 * A stream's blocks all go to one worker, which keeps its chunker state between them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, fstatSync, lstatSync, readdirSync, readSync } from 'node:fs';
import { BlobCodec, BLOB_DATA, type BlobType } from './blob-codec.js';
import { Chunker } from './chunker.js';
import { bufferView, ownsWholeBuffer, type DecodeItem, type DecodeResult, type EncodeResult, type ListDirResult, type ReadEncodeResult, type WorkerInit, type WorkerRequest, type WorkerResponse } from './worker-protocol.js';
import { toEntryError, toEntryStat, type EntryError, type EntryStat } from './entry-stat.js';
import { readXattrs, type XattrRead } from './xattrs.js';
import { joinRaw } from './paths.js';
import { openSourceSync } from './source-open.js';
import { restoreSmallFile, writeAllSync } from './file-writer.js';

const init = workerData as WorkerInit;
const codec = new BlobCodec({ id: Buffer.from(init.id), blob: Buffer.from(init.blob) });
interface StreamState {
  readonly chunker: Chunker;
  /** A read came up short: the file ended; later reads of this stream return nothing. */
  eof: boolean;
}
const streams = new Map<number, StreamState>();
/**
 * The one buffer stream-read and read-encode read into. A worker handles one message at a
 * time, and the chunker copies what it carries over, so the buffer is free again once a
 * read is encoded.
 */
let readBuffer = Buffer.alloc(0);

interface Handled {
  readonly response: WorkerResponse;
  readonly transfer: ArrayBuffer[];
}

function encoded(seq: number, results: EncodeResult[]): Handled {
  const transfer = results.map((r) => r.sealed).filter(ownsWholeBuffer).map((s) => s.buffer as ArrayBuffer);
  return { response: { seq, op: 'encode', results }, transfer };
}

function streamState(stream: number): StreamState {
  let state = streams.get(stream);
  if (!state) {
    state = { chunker: new Chunker({ gear: init.gear, ...init.chunk }), eof: false };
    streams.set(stream, state);
  }
  return state;
}

/** Chunks `block` as the next bytes of the stream and encodes the chunks it completes (all of them if final). */
function chunkAndEncode(stream: number, block: Uint8Array, final: boolean): EncodeResult[] {
  const { chunker } = streamState(stream);
  const chunks = chunker.push(block);
  if (final) {
    chunks.push(...chunker.flush());
    streams.delete(stream);
  }
  return chunks.map((c) => codec.encode(BLOB_DATA, c));
}

function streamRead(req: Extract<WorkerRequest, { op: 'stream-read' }>): Handled {
  const state = streamState(req.stream);
  let got = 0;
  try {
    if (readBuffer.length < req.length) readBuffer = Buffer.allocUnsafeSlow(req.length);
    for (let n = 1; !state.eof && got < req.length; got += n) {
      n = readSync(req.fd, readBuffer, got, req.length - got, req.position + got);
      if (n === 0) state.eof = true;
    }
  } catch (err) {
    streams.delete(req.stream);
    return { response: { seq: req.seq, op: 'stream-read', result: { ok: false, error: toEntryError(err) } }, transfer: [] };
  }
  const results = chunkAndEncode(req.stream, readBuffer.subarray(0, got), req.final);
  const { transfer } = encoded(req.seq, results);
  return { response: { seq: req.seq, op: 'stream-read', result: { ok: true, bytesRead: got, results } }, transfer };
}

/** Reads a whole small file with one open/fstat/read/close; refuses to follow a symlink. */
function readSmall(path: Buffer, maxSize: number): ReadEncodeResult {
  let fd: number;
  try {
    fd = openSourceSync(path);
  } catch (err) {
    return { ok: false, error: toEntryError(err) };
  }
  try {
    const size = fstatSync(fd).size;
    if (size > maxSize) return { ok: false, tooLarge: true, size };
    if (size === 0) return { ok: true, size: 0 };
    // Not a buffer of its own: a fresh ArrayBuffer per file cost as much as the read.
    if (readBuffer.length < size) readBuffer = Buffer.allocUnsafeSlow(Math.max(size, maxSize));
    let got = 0;
    for (let n = 1; n > 0 && got < size; got += n) n = readSync(fd, readBuffer, got, size - got, got);
    return { ok: true, size: got, encoded: codec.encode(BLOB_DATA, readBuffer.subarray(0, got)) };
  } catch (err) {
    return { ok: false, error: toEntryError(err) };
  } finally {
    closeSync(fd);
  }
}

function listDir(path: Buffer): ListDirResult {
  let names: Buffer[];
  try {
    names = readdirSync(path, { encoding: 'buffer' }).sort(Buffer.compare);
  } catch (err) {
    return { ok: false, error: toEntryError(err) };
  }
  const stats: (EntryStat | EntryError)[] = [];
  const xattrs: (XattrRead | null)[] = [];
  for (const name of names) {
    const child = joinRaw(path, name);
    try {
      stats.push(toEntryStat(lstatSync(child, { bigint: true })));
    } catch (err) {
      stats.push(toEntryError(err));
      xattrs.push(null);
      continue;
    }
    // Read here too: one llistxattr per entry on the main thread cost 5% of a small-file backup.
    const read = readXattrs(child);
    xattrs.push(read.xattrs.length === 0 && read.problems.length === 0 ? null : read);
  }
  return { ok: true, names, stats, xattrs };
}

/** What blobs written out by this worker are opened into: they are dropped once written. */
let decodeScratch = Buffer.alloc(0);

function decodeItem(item: DecodeItem): DecodeResult {
  if (item.write && decodeScratch.length < item.sealed.length) decodeScratch = Buffer.allocUnsafeSlow(item.sealed.length);
  const out = codec.decode(item.type as BlobType, bufferView(item.id), item.sealed, item.write ? decodeScratch : undefined);
  if (typeof out === 'string') return { error: out };
  // Copy into a buffer of its own here, so it can be transferred: otherwise the main
  // thread would pay for the structured-clone copy.
  if (!item.write) return { raw: ownsWholeBuffer(out) ? out : Buffer.from(out) };
  const { fd, position, length } = item.write;
  if (out.length !== length) return { error: `decodes to ${out.length} bytes, but the index says ${length}` };
  try {
    writeAllSync(fd, out, position);
  } catch (err) {
    const e = toEntryError(err);
    return { error: e.message, code: e.code };
  }
  return { written: out.length };
}

function handle(req: WorkerRequest): Handled {
  switch (req.op) {
    case 'encode':
      return encoded(req.seq, req.chunks.map((chunk) => codec.encode(req.type, bufferView(chunk))));
    case 'stream':
      return encoded(req.seq, chunkAndEncode(req.stream, req.block, req.final));
    case 'stream-read':
      return streamRead(req);
    case 'read-encode': {
      const results = req.paths.map((p) => readSmall(bufferView(p), req.maxSize));
      const transfer = results.flatMap((r) => (r.ok && r.encoded && ownsWholeBuffer(r.encoded.sealed) ? [r.encoded.sealed.buffer as ArrayBuffer] : []));
      return { response: { seq: req.seq, op: 'read-encode', results }, transfer };
    }
    case 'write-files':
      return { response: { seq: req.seq, op: 'write-files', results: req.jobs.map((job) => restoreSmallFile(codec, job)) }, transfer: [] };
    case 'list-dir':
      return { response: { seq: req.seq, op: 'list-dir', result: listDir(bufferView(req.path)) }, transfer: [] };
    case 'drop':
      streams.delete(req.stream);
      return { response: { seq: req.seq, op: 'dropped' }, transfer: [] };
    case 'decode': {
      const results = req.items.map(decodeItem);
      const transfer = results.flatMap((r) => ('raw' in r && ownsWholeBuffer(r.raw) ? [r.raw.buffer as ArrayBuffer] : []));
      return { response: { seq: req.seq, op: 'decode', results }, transfer };
    }
  }
}

parentPort?.on('message', (req: WorkerRequest) => {
  try {
    const { response, transfer } = handle(req);
    parentPort?.postMessage(response, transfer);
  } catch (err) {
    parentPort?.postMessage({ seq: req.seq, op: 'error', message: (err as Error).message } satisfies WorkerResponse);
  }
});
