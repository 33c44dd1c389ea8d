import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerPool } from './worker-pool.js';
import { chunkBoundaries, gearTable } from './chunker.js';
import { BlobCodec } from './blob-codec.js';

const MiB = 1024 * 1024;
const keys = { id: randomBytes(32), blob: randomBytes(32) };
const gear = gearTable(randomBytes(32));
const chunk = { minSize: 256 * 1024, avgSize: 512 * 1024, maxSize: 2 * MiB };
const pool = new WorkerPool({ ...keys, gear, chunk }, 2);
const codec = new BlobCodec(keys);
const dirs: string[] = [];
afterAll(async () => {
  await pool.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function fileWith(data: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-pool-'));
  dirs.push(dir);
  const path = join(dir, 'f');
  await writeFile(path, data);
  return path;
}

/** The content ids the chunker gives `data` when it sees all of it at once. */
function expectedIds(data: Buffer): string[] {
  const ends = chunkBoundaries(gear, data, chunk);
  return ends.map((end, i) => codec.id(data.subarray(i === 0 ? 0 : ends[i - 1], end)).toString('hex'));
}

describe('stream-read: the worker reads file bytes itself', () => {
  it('cuts and seals what it reads exactly as blocks pushed from the main thread would be', async () => {
    const data = randomBytes(9 * MiB + 12345);
    const fh = await open(await fileWith(data), 'r');
    const stream = pool.openStream();
    const ids: string[] = [];
    let read = 0;
    for (let pos = 0; pos < data.length; pos += 3 * MiB) {
      const res = await stream.read(fh.fd, pos, 3 * MiB, false);
      if (!res.ok) throw new Error(res.error.message);
      read += res.bytesRead;
      ids.push(...res.results.map((r) => Buffer.from(r.id).toString('hex')));
    }
    const last = await stream.read(fh.fd, 0, 0, true);
    await fh.close();
    if (!last.ok) throw new Error(last.error.message);
    ids.push(...last.results.map((r) => Buffer.from(r.id).toString('hex')));
    expect(read).toBe(data.length);
    expect(ids).toEqual(expectedIds(data));
  });

  it('reads nothing after the first short read, so a file that grows is stored without a gap', async () => {
    const data = randomBytes(5 * MiB);
    const path = await fileWith(data);
    const fh = await open(path, 'r');
    const stream = pool.openStream();
    const first = await stream.read(fh.fd, 0, 4 * MiB, false);
    const short = await stream.read(fh.fd, 4 * MiB, 4 * MiB, false);
    await appendFile(path, randomBytes(8 * MiB));
    const after = await stream.read(fh.fd, 8 * MiB, 4 * MiB, false);
    const last = await stream.read(fh.fd, 0, 0, true);
    await fh.close();
    expect([first, short, after].map((r) => (r.ok ? r.bytesRead : r.error.code))).toEqual([4 * MiB, MiB, 0]);
    const ids = [first, short, after, last].flatMap((r) => (r.ok ? r.results.map((e) => Buffer.from(e.id).toString('hex')) : []));
    expect(ids).toEqual(expectedIds(data));
  });

  it('answers a failed read with its errno code, and the stream can be dropped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-pool-'));
    dirs.push(dir);
    const fh = await open(dir, 'r');
    const stream = pool.openStream();
    const res = await stream.read(fh.fd, 0, MiB, false);
    await fh.close();
    expect(res).toMatchObject({ ok: false, error: { code: 'EISDIR' } });
    await expect(stream.drop()).resolves.toBeUndefined();
  });
});
