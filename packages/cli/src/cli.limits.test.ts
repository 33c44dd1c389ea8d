/**
 * --limit-upload / --limit-download: each run moves about 30 s worth of data at the
 * limit; the elapsed time must be within 10% of size / rate (a wall-clock measurement,
 * which is what the limit promises; the data is random so compression cannot shrink it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { assertBuilt, ferry, removeDir, tempDir } from './cli.fixture.js';

const RATE_KIB = 1024;
const SECONDS = 30;
let dir: string;
const env = () => ({ FERRY_REPOSITORY: join(dir, 'repo'), FERRY_PASSWORD: 'limits' });

beforeAll(async () => {
  await assertBuilt();
  dir = await tempDir('ferry-limits-');
  await writeFile(join(dir, 'blob.bin'), randomBytes(RATE_KIB * 1024 * SECONDS));
  expect((await ferry(['init'], { env: env() })).exitCode).toBe(0);
});
afterAll(async () => removeDir(dir));

async function timed(args: string[]): Promise<number> {
  const t = performance.now();
  const r = await ferry(args, { env: env() });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return (performance.now() - t) / 1000;
}

describe('bandwidth limits', () => {
  it('holds uploads to --limit-upload within 10% over a 30 s backup', async () => {
    const seconds = await timed(['backup', '--quiet', '--limit-upload', String(RATE_KIB), join(dir, 'blob.bin')]);
    console.log(`upload limited to ${RATE_KIB} KiB/s: ${SECONDS} s of data took ${seconds.toFixed(1)} s`);
    expect(Math.abs(seconds - SECONDS) / SECONDS).toBeLessThan(0.1);
  }, 90_000);

  it('holds downloads to --limit-download within 10% over a 30 s restore', async () => {
    const seconds = await timed(['restore', 'latest', '--quiet', '--target', join(dir, 'out'), '--limit-download', String(RATE_KIB)]);
    console.log(`download limited to ${RATE_KIB} KiB/s: ${SECONDS} s of data took ${seconds.toFixed(1)} s`);
    expect(Math.abs(seconds - SECONDS) / SECONDS).toBeLessThan(0.1);
  }, 90_000);
});
