import type { FileProblem, Progress } from '@ferry/repository';
import type { CliIO } from './io.js';
import { formatBytes, formatDuration, formatRate } from './units.js';

export type OutputMode = 'tty' | 'json' | 'plain';

/** How a command tells the user what is happening; one per command run. */
export interface Reporter {
  readonly mode: OutputMode;
  progress(progress: Progress): void;
  /** A file that could not be read or restored; the command goes on. */
  problem(problem: FileProblem): void;
  /** Final result: a JSON object for --json, human lines otherwise. */
  summary(json: Record<string, unknown>, lines: readonly string[]): void;
  /** Plain informational line (not in --json, not with --quiet). */
  info(line: string): void;
  /** A JSON line for record-style output (`snapshots`, `ls`); ignored outside --json. */
  record(json: Record<string, unknown>): void;
  /** Clears a progress bar left on screen. */
  close(): void;
}

export interface ReporterOptions {
  readonly io: CliIO;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** Milliseconds clock; progress is redrawn at most every `intervalMs`. */
  readonly now?: () => number;
  readonly intervalMs?: number;
}

export function chooseMode(io: CliIO, json: boolean): OutputMode {
  if (json) return 'json';
  return io.stderr.isTTY === true ? 'tty' : 'plain';
}

export function createReporter(options: ReporterOptions): Reporter {
  return new StreamReporter(options);
}

class StreamReporter implements Reporter {
  readonly mode: OutputMode;
  private readonly io: CliIO;
  private readonly quiet: boolean;
  private readonly verbose: boolean;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly started: number;
  private lastDraw = -Infinity;
  private barShown = false;
  private pending: Progress | undefined;

  constructor(options: ReporterOptions) {
    this.io = options.io;
    this.mode = chooseMode(options.io, options.json);
    this.quiet = options.quiet;
    this.verbose = options.verbose;
    this.now = options.now ?? (() => performance.now());
    this.intervalMs = options.intervalMs ?? 100;
    this.started = this.now();
  }

  progress(progress: Progress): void {
    if (this.quiet || this.mode === 'plain') return;
    const t = this.now();
    // At most one redraw (or JSON line) per interval: progress callbacks can fire
    // thousands of times a second with small files.
    if (t - this.lastDraw < this.intervalMs) {
      this.pending = progress;
      return;
    }
    this.lastDraw = t;
    this.pending = undefined;
    if (this.mode === 'json') this.writeJson({ type: 'progress', ...progressJson(progress, this.elapsed(t)) });
    else this.drawBar(progress, t);
  }

  problem(problem: FileProblem): void {
    this.clearBar();
    this.io.stderr.write(`ferry: warning: ${problem.path}: ${problem.message}\n`);
    if (this.mode === 'json') this.writeJson({ type: 'problem', path: problem.path, message: problem.message });
  }

  summary(json: Record<string, unknown>, lines: readonly string[]): void {
    this.flushPending();
    this.clearBar();
    if (this.mode === 'json') {
      this.writeJson({ type: 'summary', ...json });
      return;
    }
    if (this.quiet) return;
    for (const line of lines) this.io.stdout.write(`${line}\n`);
  }

  info(line: string): void {
    if (this.quiet || this.mode === 'json') return;
    this.clearBar();
    this.io.stderr.write(`${line}\n`);
  }

  record(json: Record<string, unknown>): void {
    if (this.mode === 'json') this.writeJson(json);
  }

  close(): void {
    this.clearBar();
  }

  private flushPending(): void {
    const pending = this.pending;
    if (pending === undefined || this.mode !== 'json') return;
    this.pending = undefined;
    this.writeJson({ type: 'progress', ...progressJson(pending, this.elapsed(this.now())) });
  }

  private elapsed(t: number): number {
    return (t - this.started) / 1000;
  }

  private writeJson(value: Record<string, unknown>): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  private drawBar(progress: Progress, t: number): void {
    // A pty without a size (script, some CI runners) reports 0 columns.
    const columns = this.io.stderr.columns ?? 0;
    const width = columns >= 20 ? columns : 80;
    const line = renderBar(progress, this.elapsed(t), width, this.verbose);
    this.io.stderr.write(`\r\x1b[K${line}`);
    this.barShown = true;
  }

  private clearBar(): void {
    if (!this.barShown) return;
    this.io.stderr.write('\r\x1b[K');
    this.barShown = false;
  }
}

export function progressJson(progress: Progress, elapsedSeconds: number): Record<string, unknown> {
  const rate = progress.bytesPerSecond ?? (elapsedSeconds > 0 ? progress.bytesDone / elapsedSeconds : 0);
  return {
    op: progress.op,
    filesDone: progress.filesDone,
    filesTotal: progress.filesTotal ?? null,
    bytesDone: progress.bytesDone,
    bytesTotal: progress.bytesTotal ?? null,
    bytesPerSecond: Math.round(rate),
    etaSeconds: progress.etaSeconds ?? estimateEta(progress, rate),
    elapsedSeconds: Math.round(elapsedSeconds * 1000) / 1000,
    currentFile: progress.currentFile ?? null,
  };
}

function estimateEta(progress: Progress, rate: number): number | null {
  if (progress.bytesTotal === undefined || rate <= 0) return null;
  return Math.max(0, Math.round((progress.bytesTotal - progress.bytesDone) / rate));
}

/** One terminal line: bar, percentage, files, bytes, rate, ETA, current file. */
export function renderBar(progress: Progress, elapsedSeconds: number, columns: number, verbose: boolean): string {
  const json = progressJson(progress, elapsedSeconds);
  const total = progress.bytesTotal;
  const fraction = total !== undefined && total > 0 ? Math.min(1, progress.bytesDone / total) : undefined;
  const parts: string[] = [];
  if (fraction !== undefined) {
    const cells = 20;
    const full = Math.round(fraction * cells);
    parts.push(`[${'#'.repeat(full)}${'.'.repeat(cells - full)}] ${(fraction * 100).toFixed(0).padStart(3)}%`);
  } else {
    parts.push(`[${formatDuration(elapsedSeconds)}]`);
  }
  const files = progress.filesTotal !== undefined ? `${progress.filesDone}/${progress.filesTotal}` : `${progress.filesDone}`;
  parts.push(`${files} files`);
  parts.push(total !== undefined ? `${formatBytes(progress.bytesDone)}/${formatBytes(total)}` : formatBytes(progress.bytesDone));
  parts.push(formatRate(json['bytesPerSecond'] as number));
  const eta = json['etaSeconds'];
  if (typeof eta === 'number') parts.push(`ETA ${formatDuration(eta)}`);
  let line = parts.join('  ');
  const room = columns - 1 - line.length - 2;
  if (progress.currentFile !== undefined && (room > 8 || verbose)) {
    const file = progress.currentFile;
    line += `  ${file.length <= room ? file : `…${file.slice(file.length - Math.max(1, room - 1))}`}`;
  }
  return line.length >= columns ? line.slice(0, Math.max(0, columns - 1)) : line;
}
