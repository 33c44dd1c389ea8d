// Runs one child process and measures it: wall time, peak RSS, output.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
export const rssMethod = existsSync(GNU_TIME) ? 'gnu-time' : 'proc-poll';
let counter = 0;

/**
 * Peak RSS comes from GNU time's %M (the largest process of the run, in KiB) or, without
 * it, from polling VmHWM of the direct child in /proc.
 */
export async function measure(command, args, { env = {}, stdin } = {}) {
  const rssFile = join(tmpdir(), `ferry-bench-rss-${process.pid}-${counter++}`);
  const [cmd, argv] =
    rssMethod === 'gnu-time' ? [GNU_TIME, ['-f', '%M', '-o', rssFile, command, ...args]] : [command, args];
  const started = performance.now();
  const child = spawn(cmd, argv, {
    env: { ...process.env, ...env },
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (stdin !== undefined) child.stdin.end(stdin);
  const out = [];
  const err = [];
  child.stdout.on('data', (b) => out.push(b));
  child.stderr.on('data', (b) => err.push(b));
  let polledKiB = 0;
  const poll =
    rssMethod === 'proc-poll'
      ? setInterval(() => {
          readFile(`/proc/${child.pid}/status`, 'utf8')
            .then((s) => {
              const m = /VmHWM:\s+(\d+)/.exec(s);
              if (m) polledKiB = Math.max(polledKiB, Number(m[1]));
            })
            .catch(() => undefined);
        }, 50)
      : undefined;
  const exitCode = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1)));
  });
  const seconds = (performance.now() - started) / 1000;
  if (poll) clearInterval(poll);
  let peakRssKiB = polledKiB;
  if (rssMethod === 'gnu-time') {
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    peakRssKiB = Number(text.trim().split('\n').at(-1)) || 0;
    await rm(rssFile, { force: true });
  }
  const stdout = Buffer.concat(out).toString('utf8');
  const stderr = Buffer.concat(err).toString('utf8');
  if (exitCode !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${exitCode}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { seconds, peakRssKiB, stdout, stderr };
}

/** Bytes under a path as `du -sb` counts them. */
export async function duBytes(path) {
  const { stdout } = await measureQuiet('du', ['-sb', path]);
  return Number(stdout.split(/\s/)[0]);
}

async function measureQuiet(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  child.stdout.on('data', (b) => out.push(b));
  const code = await new Promise((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}`);
  return { stdout: Buffer.concat(out).toString('utf8') };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
