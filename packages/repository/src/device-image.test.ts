import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { open, stat, truncate, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '@ferry/blobstore';
import { cleanupScope, newRepository, randomBytesSeeded } from './roundtrip.fixture.js';
import { isRepositoryError } from './errors.js';
import { ZERO_BLOCK } from './device-image.js';

const scope = cleanupScope();
afterEach(() => scope.cleanup());
const MiB = 1024 * 1024;
const identity = { kind: 'host', host: 'node-a', path: '/dev/vol' } as const;

async function sha256(path: string, length: number): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(path, { start: 0, end: length - 1 })) h.update(piece as Buffer);
  return h.digest('hex');
}

/** A 48 MiB image: random data at 0 and 20 MiB, 4 MiB of written (allocated) zeros at 8 MiB, a hole elsewhere. */
async function makeImage(path: string, seed = 7): Promise<{ size: number; data: number }> {
  const rand = mulberry32(seed);
  const size = 48 * MiB;
  await writeFile(path, randomBytesSeeded(rand, 3 * MiB + 123));
  const fh = await open(path, 'r+');
  await fh.write(Buffer.alloc(4 * MiB), 0, 4 * MiB, 8 * MiB);
  await fh.write(randomBytesSeeded(rand, 5 * MiB), 0, 5 * MiB, 20 * MiB);
  await fh.close();
  await truncate(path, size);
  return { size, data: 8 * MiB + 123 };
}

async function junkFile(path: string, size: number): Promise<void> {
  await writeFile(path, randomBytesSeeded(mulberry32(99), size));
}

/** A loop device over a fresh backing file; detached in cleanup. Needs root (the test environment is root). */
function loopDevice(backing: string): string {
  const dev = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
  scope.defer(async () => void execFileSync('losetup', ['-d', dev]));
  return dev;
}

describe('block device images', () => {
  it('round-trips a sparse image bit-exact, storing neither holes nor zero blocks, and keeps holes in the target', async () => {
    const dir = await scope.dir();
    const src = join(dir, 'src.img');
    const { size, data } = await makeImage(src);
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    const backup = await repo.backup({ source: { kind: 'device', path: src, fileName: 'device' }, identity });
    expect(backup.snapshot.device).toEqual({ file: 'device', size });
    // Only the data (rounded up to zero blocks) is read into the chunker; the hole is never read.
    expect(backup.bytesAdded).toBeLessThan(data + ZERO_BLOCK + MiB);
    const [node] = await repo.readTree(backup.snapshot.tree);
    // The first extent ends where the filesystem's data does (a page past the last byte) or at a zero-block boundary.
    const [first, second, ...rest] = node!.extents!;
    expect(first!.offset).toBe(0);
    expect(first!.length).toBeGreaterThan(3 * MiB + 123 - 1);
    expect(first!.length).toBeLessThanOrEqual(3 * MiB + ZERO_BLOCK);
    expect(second).toEqual({ offset: 20 * MiB, length: 5 * MiB });
    expect(rest).toEqual([]);

    const target = join(dir, 'target.img');
    await junkFile(target, 2 * MiB);
    await truncate(target, size);
    const restored = await repo.restoreDevice({ snapshot: backup.snapshot.id, target });
    expect(restored.size).toBe(size);
    expect(await sha256(target, size)).toBe(await sha256(src, size));
    // The junk in the target's first MiBs is overwritten, the zero run punched: far fewer blocks than the size.
    expect((await stat(target)).blocks * 512).toBeLessThan(10 * MiB);
  });

  it('refuses a target smaller than the device, naming it and both sizes, and writes nothing', async () => {
    const dir = await scope.dir();
    const src = join(dir, 'src.img');
    const { size } = await makeImage(src);
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    const backup = await repo.backup({ source: { kind: 'device', path: src, fileName: 'device' }, identity });
    const target = join(dir, 'small.img');
    await junkFile(target, 16 * MiB);
    const before = await sha256(target, 16 * MiB);
    const err = await repo.restoreDevice({ snapshot: backup.snapshot.id, target }).catch((e: unknown) => e);
    expect(isRepositoryError(err, 'TargetTooSmall')).toBe(true);
    expect((err as Error).message).toContain(target);
    expect((err as Error).message).toContain(String(16 * MiB));
    expect((err as Error).message).toContain(String(size));
    expect(await sha256(target, 16 * MiB)).toBe(before);
    expect((await stat(target)).size).toBe(16 * MiB);
  });

  it('deduplicates a re-backup of an unchanged device: almost nothing is uploaded', async () => {
    const dir = await scope.dir();
    const src = join(dir, 'src.img');
    const { data } = await makeImage(src);
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    await repo.backup({ source: { kind: 'device', path: src, fileName: 'device' }, identity });
    const again = await repo.backup({ source: { kind: 'device', path: src, fileName: 'device' }, identity });
    expect(again.bytesDeduplicated).toBeGreaterThanOrEqual(data);
    // The new root tree (its times differ) and nothing else.
    expect(again.bytesAdded).toBeLessThan(4096);
  });

  it('backs up a loop block device and restores it onto another, larger one bit-exact', async () => {
    const dir = await scope.dir();
    const srcBacking = join(dir, 'src.img');
    const { size } = await makeImage(srcBacking, 11);
    const src = loopDevice(srcBacking);
    const dstBacking = join(dir, 'dst.img');
    await junkFile(dstBacking, 24 * MiB);
    await truncate(dstBacking, 64 * MiB);
    const dst = loopDevice(dstBacking);
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    const backup = await repo.backup({ source: { kind: 'device', path: src, fileName: 'device' }, identity });
    // A block device has no SEEK_HOLE: the zero blocks are found by reading.
    expect(backup.bytesRead).toBe(size);
    expect(backup.snapshot.device).toEqual({ file: 'device', size });
    await repo.restoreDevice({ snapshot: backup.snapshot.id, target: dst });
    expect(await sha256(dst, size)).toBe(await sha256(srcBacking, size));
  });

  it('refuses a filesystem snapshot as a device image', async () => {
    const dir = await scope.dir();
    await writeFile(join(dir, 'a'), 'x');
    const repo = await newRepository(await scope.dir());
    scope.defer(() => repo.close());
    const backup = await repo.backup({ source: { kind: 'paths', paths: [dir] }, identity });
    const err = await repo.restoreDevice({ snapshot: backup.snapshot.id, target: join(dir, 'a') }).catch((e: unknown) => e);
    expect(isRepositoryError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toContain('not a block device');
  });
});
