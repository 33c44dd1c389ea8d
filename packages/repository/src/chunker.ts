/**
 * Keyed FastCDC content-defined chunking, "fastcdc-gear32-v1"
 * (docs/repository-format.md §4). The boundaries are part of the format: changing
 * anything observable here changes every chunk id of every repository.
 */
import { createHmac } from 'node:crypto';
import { gearScan } from '@ferry/native';

export const DEFAULT_MIN_SIZE = 512 * 1024;
export const DEFAULT_AVG_SIZE = 1024 * 1024;
export const DEFAULT_MAX_SIZE = 8 * 1024 * 1024;

export interface ChunkerParams {
  readonly minSize?: number;
  readonly avgSize?: number;
  readonly maxSize?: number;
}

export interface ChunkerOptions extends ChunkerParams {
  /** The 256-entry gear table from `gearTable(K_gear)`. */
  readonly gear: Uint32Array;
}

/** `gear[i]` = first 4 bytes (big endian) of HMAC-SHA-256(kGear, "gear" || u8 i). */
export function gearTable(kGear: Buffer): Uint32Array {
  const table = new Uint32Array(256);
  const message = Buffer.from('gear\0', 'latin1');
  for (let i = 0; i < 256; i++) {
    message[4] = i;
    table[i] = createHmac('sha256', kGear).update(message).digest().readUInt32BE(0);
  }
  return table;
}

/**
 * The validated sizes and the two masks, as int32 so the hot loop stays in int32.
 * Masks are derived from avgSize = 2^k: top k+2 bits before avgSize, top k-2 bits
 * after; for the default 1 MiB that is exactly the spec's 0xFFFFFC00 / 0xFFFFC000,
 * and it lets tests use small sizes with the same statistics.
 */
interface Plan {
  readonly gear: Int32Array;
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
  readonly maskS: number;
  readonly maskL: number;
}

function topBitsMask(bits: number): number {
  return bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1) | 0;
}

function makePlan(gear: Uint32Array, params: ChunkerParams = {}): Plan {
  const minSize = params.minSize ?? DEFAULT_MIN_SIZE;
  const avgSize = params.avgSize ?? DEFAULT_AVG_SIZE;
  const maxSize = params.maxSize ?? DEFAULT_MAX_SIZE;
  if (!(gear instanceof Uint32Array) || gear.length !== 256) {
    throw new RangeError('chunker: gear must be a Uint32Array of 256 entries (use gearTable(K_gear))');
  }
  const sizesOk =
    [minSize, avgSize, maxSize].every((n) => Number.isSafeInteger(n) && n > 0) &&
    minSize <= avgSize && avgSize <= maxSize && maxSize <= 2 ** 30;
  const log2Avg = Math.log2(avgSize);
  if (!sizesOk || !Number.isInteger(log2Avg) || log2Avg < 3 || log2Avg > 29) {
    throw new RangeError(
      `chunker: invalid sizes min=${minSize} avg=${avgSize} max=${maxSize}; ` +
        'need 0 < min <= avg <= max <= 2^30 and avg a power of two between 8 and 2^29',
    );
  }
  // An Int32Array view of the same table: int32 adds keep V8 off the double path.
  const gear32 = new Int32Array(gear.buffer, gear.byteOffset, 256);
  const maskS = topBitsMask(log2Avg + 2);
  const maskL = topBitsMask(log2Avg - 2);
  return { gear: gear32, minSize, avgSize, maxSize, maskS, maskL };
}

/**
 * Hash state carried between scans of one chunk (which may span several blocks): element 0
 * is the gear hash as int32. A typed array so the native scan can read and update it in place.
 */
type HashState = Int32Array;

/**
 * The hot loop (in packages/native, where it runs 2-3x faster than the best JS version):
 * rolls the gear hash over buf[from..to) and returns the index of the first byte where
 * `(h & mask) === 0`, or -1; `state[0]` is left at the hash after the last byte hashed.
 */
function scan(gear: Int32Array, buf: Uint8Array, from: number, to: number, mask: number, state: HashState): number {
  return gearScan(gear, buf, from, to, mask, state);
}

/**
 * Continues the search for the end of a chunk of which `pos` bytes precede buf[from].
 * Returns the exclusive end index in buf of the chunk if it ends in buf[from..to)
 * (a hash hit or maxSize), else -1 (state[0] then holds the hash to continue with).
 */
function continueChunk(plan: Plan, buf: Uint8Array, from: number, to: number, pos: number, state: HashState): number {
  let i = from;
  if (pos < plan.minSize) {
    // Cut-point skipping: bytes before minSize are not hashed.
    i += plan.minSize - pos;
    if (i >= to) return -1;
    pos = plan.minSize;
  }
  if (pos < plan.avgSize) {
    const end = Math.min(to, i + (plan.avgSize - pos));
    const hit = scan(plan.gear, buf, i, end, plan.maskS, state);
    if (hit >= 0) return hit + 1;
    pos += end - i;
    i = end;
    if (i >= to) return pos >= plan.maxSize ? i : -1;
  }
  const end = Math.min(to, i + (plan.maxSize - pos));
  const hit = scan(plan.gear, buf, i, end, plan.maskL, state);
  if (hit >= 0) return hit + 1;
  return pos + (end - i) >= plan.maxSize ? end : -1;
}

/**
 * One-shot cut: buf[start..end) is *all* the remaining input. Returns the exclusive
 * end of the chunk that starts at `start` (equal to `end` when the rest is one chunk).
 */
export function findCut(gear: Uint32Array, buf: Uint8Array, start: number, end: number, params?: ChunkerParams): number {
  return findCutWithPlan(makePlan(gear, params), buf, start, end);
}

function findCutWithPlan(plan: Plan, buf: Uint8Array, start: number, end: number): number {
  if (end - start <= plan.minSize) return end;
  const cut = continueChunk(plan, buf, start, end, 0, new Int32Array(1));
  return cut < 0 ? end : cut;
}

/** Exclusive end offsets of all chunks of `data` (the last is data.length; [] if empty). */
export function chunkBoundaries(gear: Uint32Array, data: Uint8Array, params?: ChunkerParams): number[] {
  const plan = makePlan(gear, params);
  const ends: number[] = [];
  for (let start = 0; start < data.length; ) {
    start = findCutWithPlan(plan, data, start, data.length);
    ends.push(start);
  }
  return ends;
}

/**
 * Streaming chunker: feed a file's bytes in blocks of any size with `push`, then call
 * `flush` once at the end of the file. Boundaries do not depend on how the input is
 * split into blocks.
 *
 * A chunk that lies wholly inside one pushed block is returned as a *view* of that block
 * (no copy: the worker only seals it, and a copy per 1 MiB chunk was pure overhead), so it
 * is valid only while the caller leaves the block unchanged. A chunk that starts in one
 * block and ends in a later one is a fresh Buffer of its own; its bytes are held in a
 * carry buffer (at most maxSize bytes) between calls. `flush`
 * resets the chunker, so one instance can (and should, to keep its carry buffer) chunk
 * many files in turn.
 */
export class Chunker {
  private readonly plan: Plan;
  private readonly state: HashState = new Int32Array(1);
  /** Bytes of the current, unfinished chunk received in earlier blocks. */
  private carry: Buffer | undefined;
  private carryLen = 0;

  constructor(options: ChunkerOptions) {
    this.plan = makePlan(options.gear, options);
  }

  /** Feeds the next block of the file; returns the chunks it completes, in order. */
  push(block: Uint8Array): Buffer[] {
    const chunks: Buffer[] = [];
    let start = 0;
    while (start < block.length) {
      const cut = continueChunk(this.plan, block, start, block.length, this.carryLen, this.state);
      if (cut < 0) break;
      chunks.push(this.emit(block, start, cut));
      start = cut;
    }
    if (start < block.length) this.keep(block, start);
    return chunks;
  }

  /** Ends the file: returns its last chunk, if any bytes are left, and resets. */
  flush(): Buffer[] {
    if (this.carryLen === 0) return [];
    const chunk = this.emit(new Uint8Array(0), 0, 0);
    return [chunk];
  }

  /** Returns block[from..to), after the carry if there is one, and starts the next chunk. */
  private emit(block: Uint8Array, from: number, to: number): Buffer {
    this.state[0] = 0;
    if (this.carryLen === 0) return Buffer.from(block.buffer, block.byteOffset + from, to - from);
    const chunk = Buffer.allocUnsafeSlow(this.carryLen + (to - from));
    if (this.carryLen > 0) this.carry!.copy(chunk, 0, 0, this.carryLen);
    chunk.set(block.subarray(from, to), this.carryLen);
    this.carryLen = 0;
    return chunk;
  }

  private keep(block: Uint8Array, from: number): void {
    const needed = this.carryLen + (block.length - from);
    if (!this.carry || this.carry.length < needed) this.growCarry(needed);
    this.carry!.set(block.subarray(from), this.carryLen);
    this.carryLen = needed;
  }

  /** Grows geometrically up to maxSize (never more is needed), so small files stay cheap. */
  private growCarry(needed: number): void {
    const size = Math.min(this.plan.maxSize, Math.max(needed, 2 * (this.carry?.length ?? 0), 64 * 1024));
    const next = Buffer.allocUnsafeSlow(size);
    if (this.carry) this.carry.copy(next, 0, 0, this.carryLen);
    this.carry = next;
  }
}
