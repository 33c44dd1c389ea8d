/**
 * `--wait`: follows a backup or restore on its Watch stream until a terminal phase, with a
 * live bar on a terminal and plain periodic lines otherwise (logs, CI). A stream that breaks
 * (coordinator restart, leader change) is opened again; the operation itself never depends
 * on this client.
 */
import type { Clock } from '@ferry/blobstore';
import type { Progress__Output } from '@ferry/api';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import type { CliIO } from '../io.js';
import { formatBytes, formatDuration, formatRate } from '../units.js';

/** What the display needs of a Backup or Restore message. */
export interface OperationView {
  readonly kind: 'backup' | 'restore';
  readonly namespace: string;
  readonly name: string;
  readonly phase: string;
  readonly progress: Progress__Output | null;
}

export type DisplayMode = 'tty' | 'plain' | 'off';

export interface ProgressDisplayOptions {
  readonly io: CliIO;
  readonly mode: DisplayMode;
  readonly clock: Clock;
  /** Plain mode: at most one line per interval unless the phase or volume count changes. Default 5000. */
  readonly plainIntervalMs?: number;
}

/** Bytes per second over the last few seconds of samples, so a stall shows as a falling rate. */
export class RateWindow {
  private readonly samples: { t: number; bytes: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}

  add(t: number, bytes: number): void {
    const last = this.samples.at(-1);
    // A restarted volume can report fewer bytes: start the window again.
    if (last !== undefined && bytes < last.bytes) this.samples.length = 0;
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - (this.samples[0]?.t ?? t) > this.windowMs) this.samples.shift();
  }

  /** Undefined until two samples at least 1 s apart. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined || last.t - first.t < 1000) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }
}

/** `InProgress  2/4 volumes  1.20 GiB/2.90 GiB (41%)  35.0 MiB/s  ETA 0:48` */
export function progressLine(view: OperationView, rate: number | undefined): string {
  return [view.phase === '' ? 'New' : view.phase, ...progressParts(view, rate)].join('  ');
}

/** The same without the phase: `2/4 volumes  1.20 GiB/2.90 GiB (41%)`. */
export function progressDetail(view: OperationView): string {
  return progressParts(view, undefined).join('  ');
}

function progressParts(view: OperationView, rate: number | undefined): string[] {
  const p = view.progress;
  const parts: string[] = [];
  if (p !== null) {
    if (p.volumesTotal > 0) parts.push(`${p.volumesDone}/${p.volumesTotal} volumes${p.volumesFailed > 0 ? ` (${p.volumesFailed} failed)` : ''}`);
    const percent = p.bytesTotal > 0 ? ` (${Math.min(100, Math.floor((p.bytesDone * 100) / p.bytesTotal))}%)` : '';
    parts.push(p.bytesTotal > 0 ? `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}${percent}` : formatBytes(p.bytesDone));
    if (rate !== undefined) parts.push(formatRate(rate));
    if (rate !== undefined && rate > 0 && p.bytesTotal > p.bytesDone) parts.push(`ETA ${formatDuration((p.bytesTotal - p.bytesDone) / rate)}`);
  }
  return parts;
}

export function progressBar(progress: Progress__Output | null, cells = 20): string {
  if (progress === null || progress.bytesTotal <= 0) return `[${'.'.repeat(cells)}]`;
  const full = Math.min(cells, Math.round((progress.bytesDone / progress.bytesTotal) * cells));
  return `[${'#'.repeat(full)}${'.'.repeat(cells - full)}]`;
}

export class ProgressDisplay {
  private readonly rate = new RateWindow();
  private lastPlain = -Infinity;
  private lastKey = '';
  private barShown = false;

  constructor(private readonly o: ProgressDisplayOptions) {}

  update(view: OperationView): void {
    const t = this.o.clock.now();
    if (view.progress !== null) this.rate.add(t, view.progress.bytesDone);
    if (this.o.mode === 'off') return;
    const line = `${view.kind} ${view.namespace}/${view.name}: ${progressLine(view, this.rate.rate())}`;
    if (this.o.mode === 'tty') return this.draw(`${progressBar(view.progress)} ${line}`);
    // Phase and volume changes are news; byte counts alone only every interval.
    const key = `${view.phase}/${view.progress?.volumesDone ?? 0}/${view.progress?.volumesFailed ?? 0}`;
    if (key === this.lastKey && t - this.lastPlain < (this.o.plainIntervalMs ?? 5000)) return;
    this.lastKey = key;
    this.lastPlain = t;
    this.o.io.stderr.write(`${line}\n`);
  }

  close(): void {
    if (this.barShown) this.o.io.stderr.write('\r\x1b[K');
    this.barShown = false;
  }

  private draw(line: string): void {
    const columns = this.o.io.stderr.columns ?? 0;
    const width = columns >= 20 ? columns : 80;
    this.o.io.stderr.write(`\r\x1b[K${line.length >= width ? line.slice(0, width - 1) : line}`);
    this.barShown = true;
  }
}

export function displayMode(io: CliIO, quiet: boolean): DisplayMode {
  if (quiet) return 'off';
  return io.stderr.isTTY === true ? 'tty' : 'plain';
}

export interface FollowOptions<T> {
  /** `backup shop/b1`, for the Ctrl-C message. */
  readonly what: string;
  /** How to stop the operation itself, e.g. `ferry backup cancel b1 -n shop`. */
  readonly cancelHint?: string;
  readonly open: () => ClientReadableStream<T>;
  readonly view: (item: T) => OperationView;
  readonly display: ProgressDisplay;
  readonly fail: (err: unknown) => Error;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  /** Streams opened again after a break before giving up. Default 10. */
  readonly maxReconnects?: number;
  /** First reconnect delay, doubled up to 10 s. Default 1000. */
  readonly reconnectDelayMs?: number;
}

/** Resolves with the first message in a terminal phase. */
export async function followOperation<T>(o: FollowOptions<T>): Promise<T> {
  // Loaded on use, so registering the cluster commands does not load gRPC for local ones.
  const [{ status }, { isServiceError }] = await Promise.all([import('@grpc/grpc-js'), import('./api-errors.js')]);
  let failures = 0;
  let delay = o.reconnectDelayMs ?? 1000;
  for (;;) {
    let lastError: unknown;
    try {
      const done = await readUntilTerminal(o);
      if (done !== undefined) return done;
    } catch (err) {
      if (o.signal?.aborted === true) throw err;
      if (!isServiceError(err) || (err.code !== status.UNAVAILABLE && err.code !== status.INTERNAL)) throw o.fail(err);
      lastError = err;
    }
    // The stream ended early or broke: the coordinator restarted or lost leadership.
    if (++failures > (o.maxReconnects ?? 10)) throw o.fail(lastError ?? new Error('the watch stream kept ending before the operation finished'));
    await o.clock.sleep(delay, o.signal).catch(() => undefined);
    if (o.signal?.aborted === true) throw interruptedWatch(o);
    delay = Math.min(10_000, delay * 2);
  }
}

async function readUntilTerminal<T>(o: FollowOptions<T>): Promise<T | undefined> {
  const { isTerminalPhase } = await import('@ferry/api');
  const stream = o.open();
  const onAbort = (): void => stream.cancel();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const item of stream as AsyncIterable<T>) {
      const view = o.view(item);
      o.display.update(view);
      if (isTerminalPhase(view.phase)) {
        stream.on('error', () => undefined);
        stream.cancel();
        return item;
      }
    }
    return undefined;
  } catch (err) {
    if (o.signal?.aborted === true) throw interruptedWatch(o);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

function interruptedWatch<T>(o: FollowOptions<T>): CliError {
  return new CliError(`stopped watching; ${o.what} goes on in the cluster${o.cancelHint !== undefined ? ` (${o.cancelHint})` : ''}`, ExitCode.interrupted);
}

/** Exit code for how a followed operation ended. */
export function exitCodeForPhase(phase: string): ExitCodeValue {
  if (phase === 'Completed') return ExitCode.ok;
  if (phase === 'PartiallyFailed') return ExitCode.partial;
  if (phase === 'Canceled') return ExitCode.canceled;
  return ExitCode.error;
}
