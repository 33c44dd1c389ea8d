// `npm run demo` is the README's main-job command: run it here as a user would (the built
// dist/, real processes, mTLS) so CI proves it works, on a local repository and on RGW.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, type TestBucket } from '../support/s3.js';

const DEMO = fileURLToPath(new URL('./standalone-demo.mjs', import.meta.url));

function runDemo(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEMO], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Pids whose command line names `text` (the demo's processes all carry its work directory). */
function processesMentioning(text: string): string[] {
  return readdirSync('/proc').filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  });
}

let bucket: TestBucket;
beforeAll(async () => {
  bucket = await createTestBucket({ namePrefix: 'ferry-demo' });
});
afterAll(async () => {
  await bucket?.cleanup();
});

describe('npm run demo (standalone coordinator + agent processes)', () => {
  it('backs up two pods, deduplicates the second run, restores through restore-wait and verifies every byte (local repository)', async () => {
    const { code, out } = await runDemo({ FERRY_REPOSITORY: '' });
    expect(out, out).toMatch(/files new 0, changed 1, unmodified \(not read again\) 300/);
    expect(out).toMatch(/the repository grew by \d+\.\d kB/);
    expect(out).toMatch(/4 snapshot\(s\)/);
    // The second backup, the listing and the restore go through the CLI and the gRPC API with a client certificate.
    expect(out).toMatch(/backup shop\/second Completed: 2\/2 volumes/);
    expect(out).toMatch(/NAME\s+PHASE\s+VOLUMES[^\n]*\nsecond\s+Completed\s+2\/2[^\n]*\nfirst\s+Completed/);
    expect(out).toMatch(/verified: 303 files identical to the backup, byte for byte/);
    expect(out).toMatch(/ferry_operations_total\{[^}]*op="restore",result="completed"/);
    expect(out).toMatch(/demo complete/);
    expect(code).toBe(0);
  }, 240_000);

  it('does the same on S3 when FERRY_REPOSITORY names a bucket', async () => {
    const { code, out } = await runDemo({ FERRY_REPOSITORY: `${bucket.url}/demo`, ...bucket.env });
    expect(out, out).toMatch(/Backup "first" into s3:/);
    expect(out).toMatch(/verified: 303 files identical to the backup, byte for byte/);
    expect(code).toBe(0);
  }, 240_000);

  it('fails with a clear message, and leaves nothing running, when FERRY_REPOSITORY is malformed', async () => {
    const { code, out } = await runDemo({ FERRY_REPOSITORY: 'ftp://nowhere' });
    expect(out).toMatch(/demo: FAILED: FERRY_REPOSITORY=ftp:\/\/nowhere: expected s3:https:\/\/host\[:port\]\/bucket\[\/prefix\]/);
    expect(code).toBe(1);
    const work = /work directory: (\S+)/.exec(out)?.[1] ?? '';
    expect(work).not.toBe('');
    expect(existsSync(work)).toBe(false);
    expect(processesMentioning(work)).toEqual([]);
  }, 120_000);
});
