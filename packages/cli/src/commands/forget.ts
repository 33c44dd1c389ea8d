import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  forgetSnapshots,
  pruneRepository,
  validatePolicy,
  type RetentionDecision,
  type RetentionGroup,
  type RetentionPolicy,
  type Repository,
  type SnapshotIdentity,
} from '@ferry/repository';
import { CliError, ExitCode } from '../exit-codes.js';
import type { CliIO } from '../io.js';
import { writeWithBackpressure } from '../io.js';
import type { Reporter } from '../reporter.js';
import type { CommandHost } from './host.js';
import { pruneJson, pruneLines, pruneOptions } from './prune.js';
import type { CommandResult } from './result.js';

export interface ForgetFlags {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  keepTag: string[];
  host?: string;
  path?: string;
  namespace?: string;
  pod?: string;
  volume?: string;
  pvcUid?: string;
  timeZone?: string;
  dryRun?: boolean;
  prune?: boolean;
}

export interface ForgetCommandOptions {
  readonly repository: Repository;
  readonly reporter: Reporter;
  readonly io: CliIO;
  readonly flags: ForgetFlags;
  readonly signal?: AbortSignal;
}

export function policyFromFlags(flags: ForgetFlags): RetentionPolicy {
  const policy: RetentionPolicy = {
    ...(flags.keepLast !== undefined ? { keepLast: flags.keepLast } : {}),
    ...(flags.keepHourly !== undefined ? { keepHourly: flags.keepHourly } : {}),
    ...(flags.keepDaily !== undefined ? { keepDaily: flags.keepDaily } : {}),
    ...(flags.keepWeekly !== undefined ? { keepWeekly: flags.keepWeekly } : {}),
    ...(flags.keepMonthly !== undefined ? { keepMonthly: flags.keepMonthly } : {}),
    ...(flags.keepYearly !== undefined ? { keepYearly: flags.keepYearly } : {}),
    ...(flags.keepWithin !== undefined ? { keepWithin: flags.keepWithin } : {}),
    ...(flags.keepTag.length > 0 ? { keepTags: flags.keepTag } : {}),
  };
  const problems = validatePolicy(policy);
  if (problems.length > 0) throw new CliError(problems.join('; '));
  return policy;
}

/** The lineage to restrict to: host+path, a pod volume, or a PVC; none means every lineage. */
export function identityFromFlags(flags: ForgetFlags): SnapshotIdentity | undefined {
  const hostPath = flags.host !== undefined || flags.path !== undefined;
  const pod = flags.namespace !== undefined || flags.pod !== undefined || flags.volume !== undefined;
  const pvc = flags.pvcUid !== undefined;
  if (Number(hostPath) + Number(pod) + Number(pvc) > 1) {
    throw new CliError('choose one lineage: --host with --path, or --namespace with --pod and --volume, or --pvc-uid');
  }
  if (hostPath) {
    if (flags.host === undefined || flags.path === undefined) throw new CliError('--host and --path go together (the lineage is host plus path)');
    // Backups record resolved, sorted, comma-joined paths; match that for a relative PATH.
    const path = flags.path.split(',').map((p) => resolve(p)).sort().join(',');
    return { kind: 'host', host: flags.host, path };
  }
  if (pod) {
    if (flags.namespace === undefined || flags.pod === undefined || flags.volume === undefined) {
      throw new CliError('--namespace, --pod and --volume go together (the lineage of a pod volume)');
    }
    return { kind: 'pod', namespace: flags.namespace, pod: flags.pod, volume: flags.volume };
  }
  if (pvc) return { kind: 'pod', namespace: '', pod: '', volume: '', pvcUid: flags.pvcUid! };
  return undefined;
}

export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export async function forgetCommand(options: ForgetCommandOptions): Promise<CommandResult> {
  const { flags, repository, reporter } = options;
  const policy = policyFromFlags(flags);
  const identity = identityFromFlags(flags);
  const timeZone = flags.timeZone ?? localTimeZone();
  const prune = flags.prune === true ? pruneOptions({ dryRun: flags.dryRun === true, env: options.io.env, ...signalOf(options) }) : undefined;
  const report = await forgetSnapshots(repository, {
    policy,
    timeZone,
    dryRun: flags.dryRun === true,
    ...(identity !== undefined ? { identity } : {}),
    ...signalOf(options),
  });
  await printGroups(options, report.groups, timeZone);
  const kept = report.groups.reduce((n, g) => n + g.decisions.filter((d) => d.keep).length, 0);
  const verb = report.dryRun ? 'would remove' : 'removed';
  const lines = [`${report.dryRun ? 'dry run: ' : ''}${verb} ${report.removed.length} snapshot(s), kept ${kept}, in ${report.groups.length} group(s)`];
  const json: Record<string, unknown> = { command: 'forget', dryRun: report.dryRun, timeZone, groups: report.groups.length, kept, removed: report.removed };
  if (prune !== undefined) {
    const pruned = await pruneRepository(repository, prune);
    lines.push(...pruneLines(pruned));
    json['prune'] = pruneJson(pruned);
  }
  reporter.summary(json, lines);
  return { exitCode: ExitCode.ok };
}

function signalOf(options: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return options.signal !== undefined ? { signal: options.signal } : {};
}

/** Every group, then every snapshot in it with keep/remove and why: table on a TTY, lines otherwise. */
async function printGroups(options: ForgetCommandOptions, groups: readonly RetentionGroup[], timeZone: string): Promise<void> {
  const { reporter, io } = options;
  const time = timeFormatter(timeZone);
  if (reporter.mode === 'json') {
    for (const g of groups) {
      reporter.record({ type: 'group', group: g.key, snapshots: g.decisions.length, keep: g.decisions.filter((d) => d.keep).length });
      for (const d of g.decisions) reporter.record({ type: 'snapshot', group: g.key, ...decisionJson(d) });
    }
    return;
  }
  let text = '';
  for (const g of groups) {
    const keep = g.decisions.filter((d) => d.keep).length;
    text += `${g.key}: keep ${keep}, remove ${g.decisions.length - keep} of ${g.decisions.length} snapshot(s)\n`;
    const rows = g.decisions.map((d) => [d.keep ? 'keep' : 'remove', d.snapshot.id.slice(0, 8), time(d.snapshot.time), d.snapshot.tags.join(','), d.reasons.join(', ')]);
    text += io.stdout.isTTY === true ? table(['Action', 'ID', `Time (${timeZone})`, 'Tags', 'Reasons'], rows) : rows.map(plainLine).join('');
  }
  await writeWithBackpressure(io.stdout, text);
}

function decisionJson(d: RetentionDecision): Record<string, unknown> {
  return { id: d.snapshot.id, time: d.snapshot.time.toISOString(), tags: d.snapshot.tags, action: d.keep ? 'keep' : 'remove', reasons: d.reasons };
}

function plainLine(row: readonly string[]): string {
  const [action, id, time, tags, reasons] = row;
  return `${action} ${id} ${time}${tags ? ` [${tags}]` : ''}: ${reasons}\n`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('') + '\n';
}

/** `2024-03-31 02:30:00 +02:00` in the policy's zone, so the buckets can be checked by eye. */
function timeFormatter(timeZone: string): (d: Date) => string {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
  } catch {
    throw new CliError(`unknown time zone "${timeZone}": give an IANA name such as UTC or Europe/Berlin`);
  }
  return (d) => {
    const p = Object.fromEntries(format.formatToParts(d).map((x) => [x.type, x.value]));
    const offset = (p['timeZoneName'] ?? '').replace(/^GMT$/, '+00:00').replace(/^GMT/, '');
    return `${p['year']}-${p['month']}-${p['day']} ${p['hour']}:${p['minute']}:${p['second']} ${offset}`;
  };
}

function count(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || n < -1) throw new InvalidArgumentError('expected a whole number (or -1 for unlimited)');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerForgetCommand(program: Command, host: CommandHost): void {
  const keep = (flag: string, what: string): Option => new Option(`--keep-${flag} <n>`, `keep the newest snapshot of each of the last N ${what} (-1: all)`).argParser(count);
  program
    .command('forget')
    .description('remove snapshots by a retention policy, per lineage (host+path, pod volume, PVC); data is freed by prune')
    .addOption(new Option('--keep-last <n>', 'keep the N newest snapshots').argParser(count))
    .addOption(keep('hourly', 'hours'))
    .addOption(keep('daily', 'days'))
    .addOption(keep('weekly', 'ISO weeks'))
    .addOption(keep('monthly', 'months'))
    .addOption(keep('yearly', 'years'))
    .option('--keep-within <duration>', 'keep snapshots newer than DURATION before the newest one (e.g. 30d, 1y6m, 12h)')
    .option('--keep-tag <tag>', 'keep snapshots with this tag (repeatable)', collect, [])
    .option('--host <name>', 'only the lineage of this host (with --path)')
    .option('--path <path>', 'only the lineage of this backed-up path (with --host; several paths comma-separated)')
    .option('--namespace <ns>', 'only the lineage of this pod volume (with --pod and --volume)')
    .option('--pod <pod>', 'pod name (with --namespace and --volume)')
    .option('--volume <volume>', 'volume name (with --namespace and --pod)')
    .option('--pvc-uid <uid>', 'only the lineage of this PersistentVolumeClaim')
    .option('--time-zone <tz>', 'IANA zone for hours, days, weeks, months and years (default: this machine\'s)')
    .option('-n, --dry-run', 'only print what would be removed')
    .option('--prune', 'run a prune afterwards')
    .action(async (flags: ForgetFlags, command: Command) => {
      await host.withRepository(command, (repository, reporter) =>
        forgetCommand({ repository, reporter, io: host.io, flags, ...(host.signal !== undefined ? { signal: host.signal } : {}) }),
      );
    });
}
