import { InvalidArgumentError, Option, type Command } from 'commander';
import { pruneRepository, type PruneOptions, type PruneReport, type Repository } from '@ferry/repository';
import { CliError, ExitCode } from '../exit-codes.js';
import type { CliIO } from '../io.js';
import type { Reporter } from '../reporter.js';
import { formatBytes } from '../units.js';
import type { CommandHost } from './host.js';
import type { CommandResult } from './result.js';

export interface PruneFlags {
  readonly dryRun?: boolean;
  /** Share 0..1. */
  readonly maxUnused?: number;
  readonly graceMs?: number;
}

export interface PruneCommandOptions extends PruneFlags {
  readonly repository: Repository;
  readonly reporter: Reporter;
  readonly env: CliIO['env'];
  readonly signal?: AbortSignal;
}

const DURATION_UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/** `0`, `90s`, `30m`, `1h30m`, `2d`: whole numbers with units d, h, m, s. */
export function parseDuration(value: string): number {
  const text = value.trim();
  if (text === '0') return 0;
  if (!/^(?:\d+[dhms])+$/.test(text)) throw new InvalidArgumentError('expected a duration such as 0s, 90s, 30m, 1h30m or 2d');
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([dhms])/g)) ms += Number(n) * (DURATION_UNITS[unit!] ?? 0);
  return ms;
}

/** `10`, `10%` or `2.5%`: the share of unreferenced bytes above which a pack is repacked. */
export function parsePercent(value: string): number {
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(value.trim());
  const n = match ? Number(match[1]) : NaN;
  if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError('expected a percentage from 0 to 100, e.g. 10 or 10%');
  return n / 100;
}

/**
 * FERRY_STALE_SESSION_SECONDS shortens the time after which a silent prune lock or backup
 * marker counts as dead (default 15 min); tests use it instead of waiting.
 */
export function staleAfterFromEnv(env: CliIO['env']): number | undefined {
  const text = env['FERRY_STALE_SESSION_SECONDS'];
  if (text === undefined || text === '') return undefined;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) throw new CliError('FERRY_STALE_SESSION_SECONDS must be a number of seconds (0 or more)');
  return seconds * 1000;
}

export function pruneOptions(flags: PruneFlags & { env: CliIO['env']; signal?: AbortSignal }): PruneOptions {
  const staleAfterMs = staleAfterFromEnv(flags.env);
  return {
    dryRun: flags.dryRun === true,
    ...(flags.maxUnused !== undefined ? { maxUnused: flags.maxUnused } : {}),
    ...(flags.graceMs !== undefined ? { graceMs: flags.graceMs } : {}),
    ...(staleAfterMs !== undefined ? { staleAfterMs } : {}),
    ...(flags.signal !== undefined ? { signal: flags.signal } : {}),
  };
}

export async function pruneCommand(options: PruneCommandOptions): Promise<CommandResult> {
  options.reporter.info(`prune: ${options.dryRun === true ? 'dry run, ' : ''}looking for data that no snapshot needs`);
  const report = await pruneRepository(options.repository, pruneOptions(options));
  options.reporter.summary({ command: 'prune', ...pruneJson(report) }, pruneLines(report));
  return { exitCode: ExitCode.ok };
}

export function pruneJson(report: PruneReport): Record<string, unknown> {
  return { ...report, marksPostponed: report.marksPostponed.map((p) => ({ mark: p.mark, reason: p.reason })) };
}

export function pruneLines(report: PruneReport): string[] {
  const would = report.dryRun ? 'would be ' : '';
  const lines: string[] = [];
  if (report.dryRun) lines.push('dry run: nothing was changed');
  lines.push(
    `swept ${report.marksSwept} mark(s): ${report.packsDeleted} pack(s) ${would}deleted, ${formatBytes(report.bytesFreed)} ${would}freed, ${report.packsRescued} pack(s) ${would}rescued`,
  );
  for (const p of report.marksPostponed) lines.push(`postponed ${p.mark}: ${p.reason}`);
  lines.push(`marked ${report.packsMarked} pack(s) (${formatBytes(report.bytesMarked)}) for deletion by a later prune after the grace period`);
  lines.push(`repacked ${report.packsRepacked} pack(s)${report.dryRun ? '' : `, ${report.blobsRepacked} blob(s) copied`}`);
  if (!report.dryRun) lines.push(`index: ${report.indexSegmentsReplaced} segment(s) replaced`);
  return lines;
}

export function registerPruneCommand(program: Command, host: CommandHost): void {
  program
    .command('prune')
    .description('delete data no snapshot needs, without blocking backups (marks garbage now, deletes it in a later run after --grace)')
    .option('-n, --dry-run', 'only report what would be swept, marked and repacked')
    .addOption(new Option('--max-unused <percent>', 'repack packs with more than this share of unused bytes (default 10%)').argParser(parsePercent))
    .addOption(new Option('--grace <duration>', 'delete marked packs only when the mark is this old (default 1h; e.g. 0s, 30m, 2h)').argParser(parseDuration))
    .addHelpText('after', '\nAnother prune holding the repository makes this one exit 1 ("another prune is running").\nEnvironment: FERRY_STALE_SESSION_SECONDS (when a silent lock or backup marker counts as dead; default 900).\n')
    .action(async (opts: { dryRun?: boolean; maxUnused?: number; grace?: number }, command: Command) => {
      await host.withRepository(command, (repository, reporter) =>
        pruneCommand({
          repository,
          reporter,
          env: host.io.env,
          ...(opts.dryRun !== undefined ? { dryRun: opts.dryRun } : {}),
          ...(opts.maxUnused !== undefined ? { maxUnused: opts.maxUnused } : {}),
          ...(opts.grace !== undefined ? { graceMs: opts.grace } : {}),
          ...(host.signal !== undefined ? { signal: host.signal } : {}),
        }),
      );
    });
}
