import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Chunker,
  DEFAULT_AVG_SIZE,
  DEFAULT_MAX_SIZE,
  DEFAULT_MIN_SIZE,
  chunkBoundaries,
  findCut,
  gearTable,
  type ChunkerParams,
} from './chunker.js';
import { mulberry32 as prng } from '@ferry/blobstore';


function randomData(seed: number, length: number): Buffer {
  const next = prng(seed);
  const data = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) data[i] = (next() * 256) | 0;
  return data;
}

/** SHA-256 in counter mode: block k = H(seed || u32be k). Stable across platforms. */
function counterModeData(seed: string, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  const counter = Buffer.alloc(4);
  for (let k = 0, at = 0; at < length; k++, at += 32) {
    counter.writeUInt32BE(k, 0);
    createHash('sha256').update(seed).update(counter).digest().copy(out, at);
  }
  return out;
}

/**
 * The spec's text (docs/repository-format.md §4) transcribed as literally as possible,
 * with plain arithmetic mod 2^32 and explicit masks, to check the fast implementation.
 */
function referenceBoundaries(
  gear: Uint32Array,
  data: Buffer,
  p: Required<ChunkerParams>,
  masks = scaledMasks(p.avgSize),
): number[] {
  const { maskS, maskL } = masks;
  const ends: number[] = [];
  let start = 0;
  while (start < data.length) {
    const n = data.length - start;
    let length = Math.min(n, p.maxSize);
    if (n > p.minSize) {
      let h = 0;
      for (let i = p.minSize; i < Math.min(n, p.maxSize); i++) {
        h = (h * 2 + gear[data[start + i]!]!) % 2 ** 32;
        const mask = i < p.avgSize ? maskS : maskL;
        if ((h & mask) >>> 0 === 0) {
          length = i + 1;
          break;
        }
      }
    } else {
      length = n;
    }
    start += length;
    ends.push(start);
  }
  return ends;
}

/** Small test sizes use the masks scaled like the spec's: top log2(avg)+2 / log2(avg)-2 bits. */
function scaledMasks(avgSize: number): { maskS: number; maskL: number } {
  const bits = Math.log2(avgSize);
  return { maskS: 2 ** 32 - 2 ** (32 - (bits + 2)), maskL: 2 ** 32 - 2 ** (32 - (bits - 2)) };
}

/** The literal masks of §4 for the default sizes. */
const SPEC_MASKS = { maskS: 0xfffffc00, maskL: 0xffffc000 };

const SMALL = { minSize: 256, avgSize: 1024, maxSize: 8192 } as const;
const DEFAULTS = { minSize: DEFAULT_MIN_SIZE, avgSize: DEFAULT_AVG_SIZE, maxSize: DEFAULT_MAX_SIZE } as const;
const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
const gear = gearTable(key);

function streamed(data: Buffer, splits: number[], params: ChunkerParams): number[] {
  const chunker = new Chunker({ gear, ...params });
  const chunks: Buffer[] = [];
  let at = 0;
  for (const cut of [...splits, data.length]) {
    // A reused scratch block proves the chunker copies what it keeps (the carry); the
    // chunks it returns may be views of the block, so they are consumed before the reuse.
    const block = Buffer.from(data.subarray(at, cut));
    chunks.push(...chunker.push(block).map((c) => Buffer.from(c)));
    block.fill(0xee);
    at = cut;
  }
  chunks.push(...chunker.flush());
  expect(Buffer.concat(chunks).equals(data)).toBe(true);
  let end = 0;
  return chunks.map((c) => (end += c.length));
}

describe('gearTable', () => {
  it('derives entry i from HMAC(kGear, "gear" || u8 i)', () => {
    expect(gear.length).toBe(256);
    for (const i of [0, 1, 127, 255]) {
      const mac = createHmac('sha256', key).update(Buffer.concat([Buffer.from('gear'), Buffer.from([i])])).digest();
      expect(gear[i]).toBe(mac.readUInt32BE(0));
    }
    expect(new Set(gear).size).toBe(256);
  });
});

describe('chunkBoundaries', () => {
  it('matches the reference transcription of the spec on random data', () => {
    const data = randomData(1, 400_000);
    expect(chunkBoundaries(gear, data, SMALL)).toEqual(referenceBoundaries(gear, data, SMALL));
  });

  it('keeps chunks within min/max and the mean near the design size', () => {
    const data = randomData(2, 2_000_000);
    const ends = chunkBoundaries(gear, data, SMALL);
    const sizes = ends.map((e, i) => e - (ends[i - 1] ?? 0));
    sizes.slice(0, -1).forEach((s) => expect(s).toBeGreaterThan(SMALL.minSize));
    sizes.forEach((s) => expect(s).toBeLessThanOrEqual(SMALL.maxSize));
    const mean = data.length / sizes.length;
    expect(mean).toBeGreaterThan(SMALL.avgSize);
    expect(mean).toBeLessThan(SMALL.avgSize * 1.5);
    // Normalized chunking keeps sizes concentrated: almost nothing reaches maxSize.
    expect(sizes.filter((s) => s === SMALL.maxSize).length).toBeLessThan(sizes.length / 100);
  });

  it('returns no chunk for empty input and one chunk up to minSize', () => {
    expect(chunkBoundaries(gear, Buffer.alloc(0), SMALL)).toEqual([]);
    expect(chunkBoundaries(gear, randomData(3, 1), SMALL)).toEqual([1]);
    expect(chunkBoundaries(gear, randomData(3, SMALL.minSize), SMALL)).toEqual([SMALL.minSize]);
    expect(chunkBoundaries(gear, randomData(3, DEFAULT_MIN_SIZE))).toEqual([DEFAULT_MIN_SIZE]);
  });

  it('cuts all-zero input into maxSize chunks', () => {
    // gear[0] repeated never clears the top bits for this key; the reference agrees.
    const zeros = Buffer.alloc(3 * DEFAULT_MAX_SIZE + 5);
    const ends = chunkBoundaries(gear, zeros);
    expect(ends).toEqual([1, 2, 3].map((k) => k * DEFAULT_MAX_SIZE).concat(zeros.length));
    expect(ends).toEqual(referenceBoundaries(gear, zeros, DEFAULTS, SPEC_MASKS));
  });

  it('cuts the same data elsewhere under another gear key', () => {
    const data = randomData(4, 500_000);
    const other = gearTable(Buffer.alloc(32, 0xaa));
    const a = chunkBoundaries(gear, data, SMALL);
    const b = chunkBoundaries(other, data, SMALL);
    const shared = a.filter((e) => b.includes(e) && e !== data.length);
    expect(shared.length).toBeLessThan(a.length / 10);
  });

  it('changes only the chunks near an insertion (dedup)', () => {
    const data = randomData(5, 1_000_000);
    const at = 500_000;
    const edited = Buffer.concat([data.subarray(0, at), Buffer.from('inserted bytes'), data.subarray(at)]);
    const chunks = (d: Buffer) => {
      const ends = chunkBoundaries(gear, d, SMALL);
      return ends.map((e, i) => d.subarray(ends[i - 1] ?? 0, e).toString('hex'));
    };
    const before = chunks(data);
    const after = new Set(chunks(edited));
    const lost = before.filter((c) => !after.has(c));
    expect(before.length).toBeGreaterThan(500);
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(lost.length).toBeLessThanOrEqual(3);
  });

  it('findCut treats the range as the whole remaining input', () => {
    const data = randomData(6, 50_000);
    const ends = chunkBoundaries(gear, data, SMALL);
    expect(findCut(gear, data, 0, data.length, SMALL)).toBe(ends[0]);
    expect(findCut(gear, data, ends[0]!, data.length, SMALL)).toBe(ends[1]);
    expect(findCut(gear, data, 10, 10 + SMALL.minSize, SMALL)).toBe(10 + SMALL.minSize);
  });

  it('rejects parameters it cannot honour', () => {
    expect(() => chunkBoundaries(gear, Buffer.alloc(1), { avgSize: 1000 })).toThrow(/power of two/);
    expect(() => chunkBoundaries(gear, Buffer.alloc(1), { minSize: 4096, avgSize: 1024 })).toThrow(RangeError);
    expect(() => new Chunker({ gear: new Uint32Array(10) })).toThrow(/256 entries/);
  });
});

describe('Chunker (streaming)', () => {
  it('derives the spec masks for the default sizes', () => {
    expect(scaledMasks(DEFAULT_AVG_SIZE)).toEqual(SPEC_MASKS);
  });

  it('gives the one-shot boundaries for any split of the input (property)', () => {
    const next = prng(42);
    for (let round = 0; round < 40; round++) {
      const data = randomData(100 + round, 20_000 + ((next() * 80_000) | 0));
      const splitCount = (next() * 30) | 0;
      const splits = Array.from({ length: splitCount }, () => (next() * data.length) | 0).sort((a, b) => a - b);
      expect(streamed(data, splits, SMALL)).toEqual(chunkBoundaries(gear, data, SMALL));
    }
  });

  it('handles byte-by-byte feeding, block edges on boundaries and exact maxSize', () => {
    const data = randomData(7, 30_000);
    const ends = chunkBoundaries(gear, data, SMALL);
    const everyByte = Array.from({ length: data.length - 1 }, (_, i) => i + 1);
    expect(streamed(data, everyByte, SMALL)).toEqual(ends);
    expect(streamed(data, ends.slice(0, -1), SMALL)).toEqual(ends);
    const zeros = Buffer.alloc(SMALL.maxSize * 2);
    expect(streamed(zeros, [SMALL.maxSize], SMALL)).toEqual([SMALL.maxSize, 2 * SMALL.maxSize]);
    const flat = { minSize: 512, avgSize: 512, maxSize: 512 };
    expect(streamed(randomData(8, 2000), [512, 700], flat)).toEqual([512, 1024, 1536, 2000]);
  });

  it('grows its carry across many small blocks at the default sizes', () => {
    const data = Buffer.concat([counterModeData('carry', 5_000_000), Buffer.alloc(DEFAULT_MAX_SIZE + 3)]);
    const splits = Array.from({ length: Math.floor(data.length / 100_000) }, (_, i) => (i + 1) * 100_000);
    const ends = chunkBoundaries(gear, data);
    expect(ends.length).toBeGreaterThan(4);
    expect(streamed(data, splits.filter((s) => s < data.length), {})).toEqual(ends);
  });

  it('returns chunks inside a block as views of it and chunks across blocks as copies', () => {
    const chunker = new Chunker({ gear, ...SMALL });
    const block = randomData(9, 20_000);
    const inside = chunker.push(block);
    expect(inside.length).toBeGreaterThan(1);
    for (const c of inside) expect(c.buffer).toBe(block.buffer);
    const spanning = chunker.push(randomData(10, 20_000))[0]!;
    expect(spanning.buffer).not.toBe(block.buffer);
    expect(spanning.byteOffset).toBe(0);
    expect(spanning.buffer.byteLength).toBe(spanning.length);
    chunker.flush();
    expect(chunker.flush()).toEqual([]);
    expect(new Chunker({ gear }).flush()).toEqual([]);
  });

  it('GOLDEN: fixed key and input give fixed boundaries (format fastcdc-gear32-v1)', () => {
    const data = counterModeData('ferry chunker golden v1', 24 * 1024 * 1024);
    const chunker = new Chunker({ gear });
    const chunks = [...chunker.push(data.subarray(0, 10_000_000)), ...chunker.push(data.subarray(10_000_000))];
    chunks.push(...chunker.flush());
    let end = 0;
    const ends = chunks.map((c) => (end += c.length));
    expect(ends).toEqual(GOLDEN_ENDS);
    expect(referenceBoundaries(gear, data, DEFAULTS, SPEC_MASKS)).toEqual(GOLDEN_ENDS);
  });
});

/** Computed once and checked against referenceBoundaries; never edit without a format bump. */
const GOLDEN_ENDS: number[] = [
  1187179, 2397424, 3653809, 5095565, 6454500, 8280478, 9920672, 10835649, 12126970, 13436594,
  14736855, 16479255, 17549760, 19036150, 20224921, 21350247, 23742615, 25084912, 25165824,
];
