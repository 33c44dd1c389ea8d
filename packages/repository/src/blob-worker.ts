/**
 * Worker-thread side of the pool: hashes, compresses, encrypts (encode) and verifies,
 * decrypts, decompresses (decode) blobs, so both cores do the CPU work of a backup or
 * restore while the main thread reads, writes and keeps the index.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlobCodec, type BlobType } from './blob-codec.js';
import { ownsWholeBuffer, type WorkerRequest, type WorkerResponse, type DecodeResult } from './worker-protocol.js';

const data = workerData as { id: Uint8Array; blob: Uint8Array };
const codec = new BlobCodec({ id: Buffer.from(data.id), blob: Buffer.from(data.blob) });
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function handle(req: WorkerRequest): { response: WorkerResponse; transfer: ArrayBuffer[] } {
  if (req.op === 'encode') {
    const results = req.chunks.map((chunk) => codec.encode(req.type, asBuffer(chunk)));
    return {
      response: { seq: req.seq, op: 'encode', results },
      transfer: results.map((r) => r.sealed).filter(ownsWholeBuffer).map((s) => s.buffer as ArrayBuffer),
    };
  }
  const results: DecodeResult[] = req.items.map((item) => {
    const out = codec.decode(item.type as BlobType, asBuffer(item.id), item.sealed);
    return typeof out === 'string' ? { error: out } : { raw: out };
  });
  const transfer = results.flatMap((r) => ('raw' in r && ownsWholeBuffer(r.raw) ? [r.raw.buffer as ArrayBuffer] : []));
  return { response: { seq: req.seq, op: 'decode', results }, transfer };
}

parentPort?.on('message', (req: WorkerRequest) => {
  try {
    const { response, transfer } = handle(req);
    parentPort?.postMessage(response, transfer);
  } catch (err) {
    parentPort?.postMessage({ seq: req.seq, op: 'error', message: (err as Error).message } satisfies WorkerResponse);
  }
});
