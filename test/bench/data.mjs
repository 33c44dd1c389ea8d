// Deterministic benchmark data: every byte comes from AES-256-CTR keyed by a seed, so
// two runs (and two machines) back up identical data.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
// The same seeded PRNG the tests use, for sizes and page choices.
import { mulberry32 as prng } from '@ferry/blobstore';

const MiB = 1024 * 1024;
const PAGE = 4096;

/** A stream of pseudo-random bytes for one (seed, label). */
export function keystream(seed, label) {
  const key = createHash('sha256').update(`${seed}/${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (length) => cipher.update(Buffer.alloc(length));
}


/** The three data sets of the benchmark at a scale (1 = full size). */
export function plan(scale) {
  const largeFileBytes = Math.max(PAGE, Math.round((128 * MiB * scale) / PAGE) * PAGE);
  const filesPerDir = Math.max(1, Math.round(1000 * scale));
  const onefileBytes = Math.max(256 * PAGE, Math.round((1024 * MiB * scale) / PAGE) * PAGE);
  return {
    large: { files: 8, fileBytes: largeFileBytes },
    small: { dirs: 100, filesPerDir, minBytes: 1024, maxBytes: 16 * 1024 },
    onefile: { fileBytes: onefileBytes, changedFraction: 0.01 },
  };
}

async function writeStream(path, bytes, next) {
  const handle = await open(path, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(8 * MiB, bytes - done);
      await handle.write(next(n));
      done += n;
    }
  } finally {
    await handle.close();
  }
}

/** (a) a few large random files. Returns { path, files, bytes }. */
export async function generateLarge(root, p, seed) {
  const dir = join(root, 'large');
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < p.files; i++) {
    await writeStream(join(dir, `file-${i}.bin`), p.fileBytes, keystream(seed, `large-${i}`));
  }
  return { path: dir, files: p.files, bytes: p.files * p.fileBytes };
}

/** (b) many small files in nested directories. */
export async function generateSmall(root, p, seed) {
  const dir = join(root, 'small');
  const random = prng(seed);
  const next = keystream(seed, 'small');
  let bytes = 0;
  let files = 0;
  for (let d = 0; d < p.dirs; d++) {
    const sub = join(dir, `d${String(Math.floor(d / 10)).padStart(2, '0')}`, `d${String(d).padStart(3, '0')}`);
    await mkdir(sub, { recursive: true });
    const writes = [];
    for (let f = 0; f < p.filesPerDir; f++) {
      const size = p.minBytes + Math.floor(random() * (p.maxBytes - p.minBytes + 1));
      bytes += size;
      files++;
      writes.push(writeFile(join(sub, `f${String(f).padStart(4, '0')}.dat`), next(size)));
    }
    await Promise.all(writes);
  }
  return { path: dir, files, bytes };
}

/** (c) one big file; `mutate` changes a fraction of its 4 KiB pages and returns `revert`. */
export async function generateOnefile(root, p, seed) {
  const dir = join(root, 'onefile');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'volume.img');
  await writeStream(file, p.fileBytes, keystream(seed, 'onefile'));
  return { path: dir, file, files: 1, bytes: p.fileBytes };
}

export async function mutatePages(file, fileBytes, fraction, seed) {
  const pages = fileBytes / PAGE;
  const count = Math.max(1, Math.round(pages * fraction));
  const random = prng(seed);
  const chosen = new Set();
  while (chosen.size < count) chosen.add(Math.floor(random() * pages));
  const next = keystream(seed, 'mutation');
  const originals = [];
  const handle = await open(file, 'r+');
  try {
    for (const page of [...chosen].sort((a, b) => a - b)) {
      const old = Buffer.alloc(PAGE);
      await handle.read(old, 0, PAGE, page * PAGE);
      originals.push([page, old]);
      await handle.write(next(PAGE), 0, PAGE, page * PAGE);
    }
  } finally {
    await handle.close();
  }
  return {
    pages: count,
    bytes: count * PAGE,
    revert: async () => {
      const h = await open(file, 'r+');
      try {
        for (const [page, old] of originals) await h.write(old, 0, PAGE, page * PAGE);
      } finally {
        await h.close();
      }
    },
  };
}
