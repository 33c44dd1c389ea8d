/**
 * Worker-thread side of the pool: chunks byte streams, hashes, compresses, encrypts
 * (encode) and verifies, decrypts, decompresses (decode) blobs, so both cores do the CPU
 * work of a backup or restore while the main thread reads, writes and keeps the index.
 * A stream's blocks all go to one worker, which keeps its chunker state between them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlobCodec, BLOB_DATA, type BlobType } from './blob-codec.js';
import { Chunker } from './chunker.js';
import { ownsWholeBuffer, type DecodeResult, type EncodeResult, type WorkerInit, type WorkerRequest, type WorkerResponse } from './worker-protocol.js';

const init = workerData as WorkerInit;
const codec = new BlobCodec({ id: Buffer.from(init.id), blob: Buffer.from(init.blob) });
const streams = new Map<number, Chunker>();
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

interface Handled {
  readonly response: WorkerResponse;
  readonly transfer: ArrayBuffer[];
}

function encoded(seq: number, results: EncodeResult[]): Handled {
  const transfer = results.map((r) => r.sealed).filter(ownsWholeBuffer).map((s) => s.buffer as ArrayBuffer);
  return { response: { seq, op: 'encode', results }, transfer };
}

function streamBlock(req: Extract<WorkerRequest, { op: 'stream' }>): Handled {
  let chunker = streams.get(req.stream);
  if (!chunker) {
    chunker = new Chunker({ gear: init.gear, ...init.chunk });
    streams.set(req.stream, chunker);
  }
  const chunks = chunker.push(req.block);
  if (req.final) {
    chunks.push(...chunker.flush());
    streams.delete(req.stream);
  }
  return encoded(req.seq, chunks.map((c) => codec.encode(BLOB_DATA, c)));
}

function handle(req: WorkerRequest): Handled {
  switch (req.op) {
    case 'encode':
      return encoded(req.seq, req.chunks.map((chunk) => codec.encode(req.type, asBuffer(chunk))));
    case 'stream':
      return streamBlock(req);
    case 'drop':
      streams.delete(req.stream);
      return { response: { seq: req.seq, op: 'dropped' }, transfer: [] };
    case 'decode': {
      const results: DecodeResult[] = req.items.map((item) => {
        const out = codec.decode(item.type as BlobType, asBuffer(item.id), item.sealed);
        return typeof out === 'string' ? { error: out } : { raw: out };
      });
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
