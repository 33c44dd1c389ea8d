import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { execa } from 'execa';
import { MoverError } from '@ferry/mover';
import { LineSplitter } from './json-lines.js';

export interface RunOptions {
  readonly binary: string;
  readonly args: readonly string[];
  /** The child's whole environment; credentials travel here, never in `args`. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly signal?: AbortSignal;
  readonly stdin?: AsyncIterable<Uint8Array>;
  readonly onStdoutLine?: (line: string) => void;
  readonly onStderrLine?: (line: string) => void;
  /** Keep stdout text in the result (off for chatty progress streams). */
  readonly collectStdout?: boolean;
  /** After SIGINT, how long restic gets to remove its lock before the group gets SIGKILL. */
  readonly killGraceMs: number;
}

export interface RunResult {
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stdout: string;
  /** The tail of stderr (bounded, restic can be chatty). */
  readonly stderr: string;
  readonly canceled: boolean;
  /** Set when the piped-in stream failed; restic was then killed before seeing EOF. */
  readonly stdinError?: unknown;
  readonly spawnError?: string;
}

const STDERR_KEEP = 64 * 1024;

/**
 * Runs restic in its own process group (detached) so cancellation can kill restic and
 * anything it started (e.g. an rclone or sftp helper) with one signal to the group.
 */
export async function runRestic(options: RunOptions): Promise<RunResult> {
  if (options.signal?.aborted) throw canceledError();
  const child = execa(options.binary, [...options.args], {
    env: { ...options.env },
    extendEnv: false,
    cwd: options.cwd,
    detached: true,
    stdin: options.stdin ? 'pipe' : 'ignore',
    buffer: false,
    reject: false,
    encoding: 'utf8',
  });
  const state = { canceled: false, stdinError: undefined as unknown, stdout: '', stderr: '' };
  const killer = new GroupKiller(child.pid, options.killGraceMs);
  const onAbort = (): void => {
    state.canceled = true;
    killer.terminate();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  collectOutput(child.stdout, options.collectStdout ?? true, options.onStdoutLine, (t) => (state.stdout += t));
  collectOutput(child.stderr, true, options.onStderrLine, (t) => (state.stderr = (state.stderr + t).slice(-STDERR_KEEP)));
  const pump = options.stdin && child.stdin ? pumpStdin(options.stdin, child.stdin, killer, state) : undefined;
  try {
    const result = await child;
    await pump;
    return {
      exitCode: result.exitCode,
      signal: result.signal,
      stdout: state.stdout,
      stderr: state.stderr,
      canceled: state.canceled,
      stdinError: state.stdinError,
      spawnError: child.pid === undefined ? result.message : undefined,
    };
  } finally {
    killer.dispose();
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function collectOutput(
  stream: NodeJS.ReadableStream | null,
  keep: boolean,
  onLine: ((line: string) => void) | undefined,
  append: (text: string) => void,
): void {
  if (!stream) return;
  const splitter = onLine ? new LineSplitter(onLine) : undefined;
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    if (keep) append(text);
    splitter?.push(text);
  });
  stream.on('end', () => splitter?.flush());
}

/**
 * Streams the source into restic without buffering it whole. If the source fails, restic
 * is killed while stdin is still open: restic only writes a snapshot after EOF, so a
 * broken stream can never become a snapshot that claims success.
 */
async function pumpStdin(
  source: AsyncIterable<Uint8Array>,
  stdin: Writable,
  killer: GroupKiller,
  state: { stdinError: unknown },
): Promise<void> {
  let broken = false;
  stdin.on('error', () => {
    broken = true; // EPIPE: restic exited; its exit status tells what happened
  });
  try {
    for await (const chunk of source) {
      if (broken) return;
      if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain'), once(stdin, 'close')]);
    }
    stdin.end();
  } catch (err) {
    state.stdinError = err;
    killer.kill();
  }
}

class GroupKiller {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pid: number | undefined,
    private readonly graceMs: number,
  ) {}

  /** SIGINT first: restic then removes its own lock; SIGKILL the group if it lingers. */
  terminate(): void {
    this.send('SIGINT');
    this.timer ??= setTimeout(() => this.send('SIGKILL'), this.graceMs);
  }

  kill(): void {
    this.send('SIGKILL');
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private send(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone
    }
  }
}

export function canceledError(): MoverError {
  return new MoverError('Canceled', 'restic call canceled by its AbortSignal; the repository is left usable');
}
