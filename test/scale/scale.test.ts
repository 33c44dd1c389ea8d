/**
 * Scale limits from the repository design: a repository of 1,000,000 blobs opens and
 * backs up within a 256 MiB V8 heap, and so do 1,000,000 small or empty files. Both run as child processes with --max-old-space-size, so exceeding the
 * limit kills the child and fails the test.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const MILLION = 1_000_000;

async function node(args: string[]): Promise<Record<string, number>> {
  const { stdout } = await run(process.execPath, args, { cwd: here, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
}

describe('scale', () => {
  it('opens and backs up into a repository of 1,000,000 blobs with a 256 MiB heap', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-scale-'));
    try {
      await node(['make-million.mjs', join(dir, 'repo'), String(MILLION)]);
      const r = await node(['--max-old-space-size=256', '--expose-gc', 'open-million.mjs', join(dir, 'repo'), join(dir, 'src'), String(MILLION)]);
      console.log(
        `1M-blob repository: ${r.bytesPerBlobAfterOpen!.toFixed(1)} bytes of index memory per blob after open, ` +
          `${r.bytesPerBlob!.toFixed(1)} after a backup; RSS ${(r.rssAfterBackup! / 2 ** 20).toFixed(0)} MiB`,
      );
      expect(r.blobs).toBe(MILLION + 1 + 1);
      expect(r.bytesPerBlobAfterOpen).toBeLessThan(64);
      expect(r.bytesPerBlob).toBeLessThan(72);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('backs up 1,000,000 small and empty files with a 256 MiB heap', async () => {
    const dir = await mkdtemp(join('/dev/shm', 'ferry-scale-'));
    try {
      const src = join(dir, 'src');
      const payload = Buffer.from('x'.repeat(100));
      for (let d = 0; d < 1000; d++) {
        const sub = join(src, `d${d}`);
        await mkdir(sub, { recursive: true });
        await Promise.all(Array.from({ length: 1000 }, (_, f) => writeFile(join(sub, `f${f}`), f % 2 ? payload : '')));
      }
      const r = await node(['--max-old-space-size=256', 'many-files.mjs', join(dir, 'repo'), src]);
      console.log(`1M files: ${r.seconds!.toFixed(1)} s, peak heap ${(r.peakHeap! / 2 ** 20).toFixed(0)} MiB, peak RSS ${(r.peakRss! / 2 ** 20).toFixed(0)} MiB`);
      expect(r.files).toBe(MILLION);
      expect(r.dirs).toBe(1000);
      expect(r.problems).toBe(0);
      // Memory must not grow with the tree: the walker holds the current path, not the tree.
      expect(r.peakHeap!).toBeLessThan(128 * 2 ** 20);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
