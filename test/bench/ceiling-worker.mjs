// One core's share of the single-pass ceiling: read + chunk + content id
// (HMAC-SHA-256) + seal (AES-256-GCM with a per-blob key) of files, to nowhere.
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';

const BLOCK = 8 * 1024 * 1024;
const { files, chunkerModule } = workerData;
const kId = randomBytes(32);
const kBlob = randomBytes(32);
const kGear = randomBytes(32);

async function makeChunker() {
  if (chunkerModule) {
    const mod = await import(chunkerModule);
    if (mod.Chunker && mod.gearTable) return { kind: 'engine', chunker: new mod.Chunker({ gear: mod.gearTable(kGear) }) };
  }
  return { kind: 'gear-loop', chunker: new GearChunker() };
}

/** Fallback FastCDC-like cutter with the engine's parameters (min 512 KiB, avg 1 MiB, max 8 MiB). */
class GearChunker {
  constructor() {
    this.gear = new Int32Array(256);
    for (let i = 0; i < 256; i++) this.gear[i] = createHmac('sha256', kGear).update(Buffer.from([i])).digest().readInt32BE(0);
    this.parts = [];
    this.len = 0;
    this.h = 0;
  }
  push(block) {
    const out = [];
    let start = 0;
    for (let i = 0; i < block.length; i++) {
      const pos = this.len + (i - start);
      if (pos < 524288) continue;
      this.h = ((this.h << 1) + this.gear[block[i]]) | 0;
      const mask = pos < 1048576 ? 0xfffffc00 | 0 : 0xffffc000 | 0;
      if ((this.h & mask) === 0 || pos + 1 >= 8388608) {
        this.parts.push(block.subarray(start, i + 1));
        out.push(Buffer.concat(this.parts));
        this.parts = [];
        this.len = 0;
        this.h = 0;
        start = i + 1;
      }
    }
    if (start < block.length) {
      this.parts.push(Buffer.from(block.subarray(start)));
      this.len += block.length - start;
    }
    return out;
  }
  flush() {
    const out = this.len > 0 ? [Buffer.concat(this.parts)] : [];
    this.parts = [];
    this.len = 0;
    this.h = 0;
    return out;
  }
}

// The engine seals through @ferry/native (Node's OpenSSL in one call per blob) when it is
// built; the ceiling must use the fastest path there is, or it is no ceiling.
const native = await import('@ferry/native').catch(() => undefined);
const ZERO_HEAD = Buffer.alloc(0);
function sealNative(chunk) {
  const id = native.hmacSha256(kId, chunk);
  const salt = randomBytes(16);
  const out = Buffer.allocUnsafe(32 + chunk.length);
  native.sealBox({ key: kBlob, salt, aad: id, head: ZERO_HEAD, body: chunk, out });
  return out.length;
}

const SLICE = 64 * 1024;
const ZERO_NONCE = Buffer.alloc(12);
/** The fastest way node:crypto seals: 64 KiB update() calls copied into one output buffer. */
function sealNodeCrypto(chunk) {
  const id = createHmac('sha256', kId).update(chunk).digest();
  const salt = randomBytes(16);
  const key = createHmac('sha256', kBlob).update(salt).digest();
  const cipher = createCipheriv('aes-256-gcm', key, ZERO_NONCE);
  cipher.setAAD(id);
  const out = Buffer.allocUnsafe(16 + chunk.length + 16);
  out.set(salt, 0);
  let at = 16;
  for (let from = 0; from < chunk.length; from += SLICE) {
    const piece = cipher.update(chunk.subarray(from, Math.min(chunk.length, from + SLICE)));
    out.set(piece, at);
    at += piece.length;
  }
  cipher.final();
  out.set(cipher.getAuthTag(), at);
  return out.length;
}

const seal = native ? sealNative : sealNodeCrypto;
const { kind, chunker } = await makeChunker();
const buffer = Buffer.allocUnsafe(BLOCK);
let bytes = 0;
for (const file of files) {
  const handle = await open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, BLOCK, null);
      if (bytesRead === 0) break;
      bytes += bytesRead;
      for (const chunk of chunker.push(buffer.subarray(0, bytesRead))) seal(chunk);
    }
    for (const chunk of chunker.flush()) seal(chunk);
  } finally {
    await handle.close();
  }
}
parentPort.postMessage({ bytes, chunker: native ? `${kind}, native seal` : kind });
