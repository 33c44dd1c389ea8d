import { InvalidArgumentError } from 'commander';
import {
  checkRepository,
  isRepositoryError,
  type CheckProblem,
  type CheckReport,
  type Progress,
  type ReadDataSelection,
  type Repository,
} from '@ferry/repository';
import { ExitCode } from '../exit-codes.js';
import type { CliIO } from '../io.js';
import type { Reporter } from '../reporter.js';
import { formatBytes, formatDuration, formatRate } from '../units.js';
import type { CommandResult } from './result.js';

export interface CheckCommandOptions {
  /** Opens the repository; check reports an unopenable (corrupt) repository itself. */
  readonly open: () => Promise<Repository>;
  readonly reporter: Reporter;
  /** stderr carries the progress bar, phase lines and the problems (not with --json). */
  readonly io: CliIO;
  readonly readData?: ReadDataSelection;
  /** --quiet: no progress bar (errors and warnings are still printed). */
  readonly quiet?: boolean;
  readonly signal?: AbortSignal;
}

/** Affected paths printed per problem in human output (--json has them all). */
const AFFECTS_SHOWN = 10;
const REDRAW_MS = 100;

/** `--read-data-subset`: `N/M` (restic's n/t, by pack id) or `P%` (a random share). */
export function parseReadDataSubset(value: string): ReadDataSelection {
  const part = /^(\d+)\/(\d+)$/.exec(value);
  if (part) {
    const n = Number(part[1]);
    const m = Number(part[2]);
    if (m < 1 || m > 256 || n < 1 || n > m) throw new InvalidArgumentError('N/M needs 1 <= N <= M <= 256 (e.g. 1/5)');
    return { part: n, of: m };
  }
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (percent) {
    const p = Number(percent[1]);
    if (!(p > 0 && p <= 100)) throw new InvalidArgumentError('a percentage must be above 0% and at most 100%');
    return { fraction: p / 100 };
  }
  throw new InvalidArgumentError('expected N/M (e.g. 2/5) or a percentage (e.g. 10%)');
}

export async function checkCommand(options: CheckCommandOptions): Promise<CommandResult> {
  const { reporter } = options;
  let repository: Repository;
  try {
    repository = await options.open();
  } catch (err) {
    // A damaged index segment, key slot or config stops Repository.open: still a check result.
    if (!isRepositoryError(err, 'Corrupt')) throw err;
    return finish(options, unopenable(err.message));
  }
  const progress = new ProgressView(options);
  try {
    const report = await checkRepository(repository, {
      onProgress: (p) => progress.update(p),
      ...(options.readData !== undefined ? { readData: options.readData } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    progress.clear();
    return finish(options, report);
  } finally {
    progress.clear();
    await repository.close();
  }
}

function finish(options: CheckCommandOptions, report: CheckReport): CommandResult {
  const { reporter, io } = options;
  if (reporter.mode !== 'json') {
    for (const problem of report.errors) io.stderr.write(problemText('error', problem));
    for (const problem of report.warnings) io.stderr.write(problemText('warning', problem));
  }
  reporter.summary({ command: 'check', ...report }, summaryLines(report));
  return { exitCode: report.ok ? ExitCode.ok : ExitCode.error };
}

function unopenable(message: string): CheckReport {
  const index = /index segment (index\/[0-9a-f]+)/.exec(message);
  const key = /key slot (keys\/\S+)/.exec(message);
  const [kind, object] = index ? (['index', index[1]!] as const) : key ? (['key', key[1]!] as const) : (['config', 'config'] as const);
  const advice =
    kind === 'index'
      ? `; the repository does not open, so nothing else was checked: restore ${object} from a copy, or move it out of index/ and run "ferry check" again (its packs then show as orphans, and the files that need them as damaged)`
      : '; the repository does not open, so nothing else was checked';
  return {
    ok: false,
    errors: [{ kind, object, message: message.replace(/; run "ferry check"$/, '') + advice }],
    warnings: [],
    stats: { snapshots: 0, trees: 0, packs: 0, blobs: 0, bytesRead: 0, packsRead: 0 },
  };
}

function problemText(level: 'error' | 'warning', problem: CheckProblem): string {
  const lines = [`ferry: ${level}: ${problem.message}`];
  const affects = problem.affects ?? [];
  for (const a of affects.slice(0, AFFECTS_SHOWN)) lines.push(`  affects snapshot ${a.snapshot.slice(0, 8)}: ${a.path}`);
  if (affects.length > AFFECTS_SHOWN) lines.push(`  … and ${affects.length - AFFECTS_SHOWN} more (--json lists them all)`);
  return `${lines.join('\n')}\n`;
}

function summaryLines(report: CheckReport): string[] {
  const s = report.stats;
  const lines = [`checked ${s.snapshots} snapshot(s), ${s.trees} tree(s), ${s.packs} pack(s), ${s.blobs} blob(s)`];
  if (s.packsRead > 0) lines.push(`read and verified ${s.packsRead} pack(s), ${formatBytes(s.bytesRead)} downloaded`);
  const warnings = report.warnings.length > 0 ? `, ${report.warnings.length} warning(s)` : '';
  lines.push(report.ok ? `no errors were found${warnings}` : `${report.errors.length} error(s)${warnings} found: the repository is damaged`);
  return lines;
}

/**
 * A one-line bar on a terminal, a line per phase otherwise, progress JSON lines with
 * --json. Check's progress counts packs, not files, so the shared bar does not fit.
 */
class ProgressView {
  private phase: string | undefined;
  private lastDraw = -Infinity;
  private shown = false;
  private readonly started = performance.now();

  constructor(private readonly options: CheckCommandOptions) {}

  update(p: Progress): void {
    const { reporter } = this.options;
    if (reporter.mode === 'json') {
      reporter.progress(p);
      return;
    }
    const phaseChanged = p.currentFile !== this.phase;
    this.phase = p.currentFile;
    if (reporter.mode === 'plain') {
      if (phaseChanged && p.currentFile !== undefined) reporter.info(`check: ${p.currentFile}${totals(p)}`);
      return;
    }
    if (this.options.quiet === true) return;
    const now = performance.now();
    if (!phaseChanged && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.options.io.stderr.write(`\r\x1b[K${this.line(p, (now - this.started) / 1000)}`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.options.io.stderr.write('\r\x1b[K');
    this.shown = false;
  }

  private line(p: Progress, elapsed: number): string {
    const parts = [`check: ${p.currentFile ?? ''}`];
    if (p.bytesTotal !== undefined && p.bytesTotal > 0) {
      const fraction = Math.min(1, p.bytesDone / p.bytesTotal);
      const full = Math.round(fraction * 20);
      parts.push(`[${'#'.repeat(full)}${'.'.repeat(20 - full)}] ${(fraction * 100).toFixed(0).padStart(3)}%`);
      parts.push(`${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`, formatRate(p.bytesPerSecond ?? 0));
      if (p.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(p.etaSeconds)}`);
    } else parts.push(`[${formatDuration(elapsed)}]`);
    const unit = p.currentFile === 'trees' ? 'trees' : 'packs';
    if (p.filesDone > 0 || p.filesTotal !== undefined) parts.push(`${p.filesDone}${p.filesTotal !== undefined ? `/${p.filesTotal}` : ''} ${unit}`);
    const columns = this.options.io.stderr.columns ?? 0;
    const line = parts.join('  ');
    return columns >= 20 && line.length >= columns ? line.slice(0, columns - 1) : line;
  }
}

function totals(p: Progress): string {
  if (p.bytesTotal !== undefined) return ` (${p.filesTotal ?? 0} packs, ${formatBytes(p.bytesTotal)})`;
  return p.filesTotal !== undefined ? ` (${p.filesTotal} packs)` : '';
}
