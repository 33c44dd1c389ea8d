import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliIO } from './io.js';
import { createReporter, renderBar } from './reporter.js';

function fakeIO(tty: boolean): { io: CliIO; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: tty, columns: 100 });
  const outChunks: string[] = [];
  const errChunks: string[] = [];
  stdout.on('data', (b: Buffer) => outChunks.push(b.toString()));
  stderr.on('data', (b: Buffer) => errChunks.push(b.toString()));
  const io: CliIO = { stdin: new PassThrough(), stdout, stderr, env: {} };
  return { io, out: () => outChunks.join(''), err: () => errChunks.join('') };
}

const progress = (filesDone: number, bytesDone: number) => ({
  op: 'backup' as const,
  filesDone,
  filesTotal: 10,
  bytesDone,
  bytesTotal: 1000,
  currentFile: 'dir/file.txt',
});

describe('reporter', () => {
  it('redraws the TTY bar at most once per 100 ms and clears it before the summary', async () => {
    const { io, out, err } = fakeIO(true);
    let t = 0;
    const reporter = createReporter({ io, json: false, quiet: false, verbose: false, now: () => t });
    for (let i = 0; i < 50; i++) {
      reporter.progress(progress(i % 10, i * 20));
      t += 10; // 50 updates over 500 ms
    }
    reporter.summary({}, ['done']);
    await new Promise((r) => setImmediate(r));
    const draws = err().split('\r\x1b[K').filter((s) => s.includes('files'));
    expect(draws.length).toBeGreaterThanOrEqual(4);
    expect(draws.length).toBeLessThanOrEqual(6);
    expect(err().endsWith('\r\x1b[K')).toBe(true);
    expect(out()).toBe('done\n');
  });

  it('prints JSON progress lines, the last pending one, and then the summary', async () => {
    const { io, out } = fakeIO(false);
    let t = 0;
    const reporter = createReporter({ io, json: true, quiet: false, verbose: false, now: () => t });
    reporter.progress(progress(1, 100));
    t += 50;
    reporter.progress(progress(2, 200)); // within the interval: held back, flushed before the summary
    reporter.summary({ command: 'backup', snapshotId: 'ab' }, ['ignored in json']);
    await new Promise((r) => setImmediate(r));
    const lines = out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['type'])).toEqual(['progress', 'progress', 'summary']);
    expect(lines[1]).toMatchObject({ filesDone: 2, bytesDone: 200, filesTotal: 10, bytesTotal: 1000, currentFile: 'dir/file.txt' });
    expect(lines[2]).toEqual({ type: 'summary', command: 'backup', snapshotId: 'ab' });
  });

  it('prints no progress without a TTY, and nothing but warnings with --quiet', async () => {
    const plain = fakeIO(false);
    const reporter = createReporter({ io: plain.io, json: false, quiet: false, verbose: false });
    reporter.progress(progress(1, 1));
    reporter.summary({}, ['line']);
    const quiet = fakeIO(true);
    const q = createReporter({ io: quiet.io, json: false, quiet: true, verbose: false });
    q.progress(progress(1, 1));
    q.problem({ path: 'a/b', message: 'permission denied' });
    q.summary({}, ['line']);
    await new Promise((r) => setImmediate(r));
    expect(plain.err()).toBe('');
    expect(plain.out()).toBe('line\n');
    expect(quiet.out()).toBe('');
    expect(quiet.err()).toBe('ferry: warning: a/b: permission denied\n');
  });

  it('fits the bar into the terminal width, shortening the current file from the left', () => {
    const line = renderBar({ ...progress(3, 500), currentFile: `${'x'.repeat(200)}/tail.txt` }, 2, 120, false);
    expect(line.length).toBeLessThan(120);
    expect(line).toContain('[##########..........]  50%');
    expect(line).toContain('3/10 files');
    expect(line).toMatch(/…x*\/tail\.txt$/);
  });
});
