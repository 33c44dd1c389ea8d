/** `ferry schedule create|list|describe|pause|resume|delete` against the coordinator. */
import { Option, type Command } from 'commander';
import type { CreateScheduleRequest, RetentionPolicy, RetentionPolicy__Output, Schedule__Output, ListSchedulesResponse__Output } from '@ferry/api';
import { policyFromFlags } from '../commands/forget.js';
import { ExitCode } from '../exit-codes.js';
import { backupRequest, backupSpecOptions, type BackupSpecFlags } from './backup-spec.js';
import {
  allNamespacesOption,
  collect,
  connectionOptions,
  listPaged,
  outputOption,
  positiveInteger,
  printObject,
  runCluster,
  type ClusterHost,
  type ClusterRun,
} from './command.js';
import { formatAge, namespacedTable, renderFields, renderObject, timeWithAge } from './format.js';

interface RetentionFlags {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
  readonly keepWithin?: string;
  readonly keepTag: string[];
}

interface CreateFlags extends BackupSpecFlags, RetentionFlags {
  readonly cron: string;
  readonly timeZone?: string;
  readonly paused?: boolean;
  readonly concurrencyPolicy?: string;
  readonly maxCatchUp?: number;
  readonly startWindow?: string;
}

export function registerScheduleCommands(program: Command, host: ClusterHost): void {
  const schedule = program.command('schedule').description('backup schedules on a cluster: create, list, describe, pause, resume, delete');

  const create = schedule
    .command('create')
    .description('create a BackupSchedule')
    .argument('<name>')
    .requiredOption('--cron <expr>', 'five-field cron ("0 2 * * *"), @hourly/@daily/@weekly/@monthly/@yearly, or @hourly-random/@daily-random/@weekly-random (a fixed time of this schedule within the period)')
    .option('--start-window <duration>', 'shift every run by a fixed offset of this schedule within this window, e.g. 3h')
    .option('--time-zone <zone>', 'IANA time zone of --cron (default UTC)')
    .option('--paused', 'create it paused')
    .addOption(new Option('--concurrency-policy <policy>', 'when a run is due while the last still runs').choices(['Forbid', 'Replace']))
    .addOption(new Option('--max-catch-up <n>', 'missed runs started after downtime (0 skips them; default 1)').argParser(positiveInteger));
  backupSpecOptions(create);
  retentionOptions(create);
  connectionOptions(outputOption(create));
  create.action(async (name: string, _o: object, command: Command) => {
    await runCluster<CreateFlags>(host, command, async (run) => {
      const s = await run.conn.unary<Schedule__Output>((md, opt, cb) => run.conn.schedules.createSchedule(scheduleRequest(run, name), md, opt, cb));
      printSchedule(run, s, 'created');
      return ExitCode.ok;
    });
  });

  const list = schedule.command('list').description('list schedules');
  connectionOptions(outputOption(allNamespacesOption(list)));
  list.action(async (_o: object, command: Command) => {
    await runCluster(host, command, (run) => listSchedules(run));
  });

  const describe = schedule.command('describe').description('show a schedule').argument('<name>');
  connectionOptions(outputOption(describe, 'table|json|yaml'));
  describe.action(async (name: string, _o: object, command: Command) => {
    await runCluster(host, command, async (run) => {
      const req = { namespace: run.conn.namespace, name };
      const s = await run.conn.unary<Schedule__Output>((md, opt, cb) => run.conn.schedules.getSchedule(req, md, opt, cb));
      run.out(run.output === 'json' || run.output === 'yaml' ? renderObject(s, run.output) : describeSchedule(s, host.wallNow()));
      return ExitCode.ok;
    });
  });

  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    const cmd = schedule.command(verb).description(paused ? 'stop starting backups (running ones go on)' : 'start backups again').argument('<name>');
    connectionOptions(cmd);
    cmd.action(async (name: string, _o: object, command: Command) => {
      await runCluster(host, command, async (run) => {
        const req = { namespace: run.conn.namespace, name, paused };
        const s = await run.conn.unary<Schedule__Output>((md, opt, cb) => run.conn.schedules.setSchedulePaused(req, md, opt, cb));
        printSchedule(run, s, paused ? 'paused' : 'resumed');
        return ExitCode.ok;
      });
    });
  }

  const del = schedule.command('delete').description('delete a schedule (its backups stay)').argument('<name>');
  connectionOptions(del);
  del.action(async (name: string, _o: object, command: Command) => {
    await runCluster(host, command, async (run) => {
      const req = { namespace: run.conn.namespace, name };
      await run.conn.unary((md, opt, cb) => run.conn.schedules.deleteSchedule(req, md, opt, cb));
      run.out(`schedule ${req.namespace}/${name} deleted\n`);
      return ExitCode.ok;
    });
  });
}

function retentionOptions(command: Command): void {
  for (const unit of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly']) {
    command.addOption(new Option(`--keep-${unit} <n>`, `retention: keep the ${unit === 'last' ? 'last n snapshots' : `last n ${unit} snapshots`}`).argParser(positiveInteger));
  }
  command.option('--keep-within <duration>', 'retention: keep every snapshot this recent, e.g. 30d or 2w3d').option('--keep-tag <tag>', 'retention: keep snapshots with this tag (repeatable)', collect, []);
}

/** The same rules as local `ferry forget`, checked the same way; none given: no retention. */
function retentionPolicy(f: RetentionFlags): RetentionPolicy | undefined {
  const counts = [f.keepLast, f.keepHourly, f.keepDaily, f.keepWeekly, f.keepMonthly, f.keepYearly];
  if (counts.every((n) => n === undefined) && f.keepWithin === undefined && f.keepTag.length === 0) return undefined;
  const { keepTags, ...rest } = policyFromFlags(f);
  return { ...rest, ...(keepTags !== undefined ? { keepTags: [...keepTags] } : {}) };
}

function scheduleRequest(run: ClusterRun<CreateFlags>, name: string): CreateScheduleRequest {
  const f = run.flags;
  const retention = retentionPolicy(f);
  return {
    namespace: run.conn.namespace,
    name,
    cron: f.cron,
    timeZone: f.timeZone ?? '',
    template: backupRequest(f, { namespace: '', name: '' }),
    paused: f.paused === true,
    concurrencyPolicy: f.concurrencyPolicy ?? '',
    ...(f.maxCatchUp !== undefined ? { maxCatchUp: f.maxCatchUp } : {}),
    startWindow: f.startWindow ?? '',
    ...(retention !== undefined ? { retention } : {}),
  };
}

function printSchedule(run: ClusterRun<unknown>, s: Schedule__Output, what: string): void {
  printObject(run, s, `schedule/${s.name}`, `schedule ${s.namespace}/${s.name} ${what} (${s.cron}${s.timeZone !== '' ? ` ${s.timeZone}` : ''}, ${s.phase || (s.paused ? 'Paused' : 'Active')})`);
}

function listSchedules(run: ClusterRun<unknown>): Promise<number> {
  return listPaged(run, {
    kind: 'schedule',
    name: (s) => s.name,
    table: scheduleTable,
    page: async (scope, pageToken) => {
      const req = { ...scope, pageSize: 500, pageToken };
      const res = await run.conn.unary<ListSchedulesResponse__Output>((md, opt, cb) => run.conn.schedules.listSchedules(req, md, opt, cb));
      return { items: res.schedules, next: res.nextPageToken };
    },
  });
}

export function scheduleTable(schedules: readonly Schedule__Output[], o: { allNamespaces: boolean; now: Date }): string {
  const headers = ['NAME', 'SCHEDULE', 'PHASE', 'PAUSED', 'LAST BACKUP', 'LAST RUN', 'NEXT RUN'];
  return namespacedTable(headers, schedules, o.allNamespaces, (s) => [
    s.name,
    s.timeZone !== '' ? `${s.cron} (${s.timeZone})` : s.cron,
    s.phase || '-',
    s.paused ? 'true' : 'false',
    s.lastBackup || '<none>',
    s.lastScheduleTime !== '' ? `${formatAge(s.lastScheduleTime, o.now)} ago` : '<never>',
    nextRun(s, o.now),
  ]);
}

function nextRun(s: Schedule__Output, now: Date): string {
  if (s.paused || s.nextScheduleTime === '') return '<none>';
  const at = Date.parse(s.nextScheduleTime);
  if (Number.isNaN(at)) return '<unknown>';
  return at <= now.getTime() ? 'due' : `in ${formatAge(now.toISOString(), new Date(at))}`;
}

export function describeSchedule(s: Schedule__Output, now: Date): string {
  return renderFields([
    ['Name', s.name],
    ['Namespace', s.namespace],
    ['Schedule', s.cron],
    ['Time zone', s.timeZone || 'UTC'],
    ['Phase', s.phase],
    ['Paused', s.paused ? 'yes' : 'no'],
    ['Message', s.message],
    ['Concurrency policy', s.concurrencyPolicy],
    ['Max catch-up', String(s.maxCatchUp)],
    ['Retention', retentionText(s.retention)],
    ['Last backup', s.lastBackup],
    ['Last run', timeWithAge(s.lastScheduleTime, now)],
    ['Last success', timeWithAge(s.lastSuccessfulTime, now)],
    ['Next run', s.nextScheduleTime !== '' ? `${s.nextScheduleTime} (${nextRun(s, now)})` : undefined],
    ['Active', s.active.join(', ')],
  ]);
}

export function retentionText(r: RetentionPolicy__Output | null): string | undefined {
  if (r === null) return undefined;
  const parts: string[] = [];
  const counts: [string, number | undefined][] = [
    ['last', r.keepLast],
    ['hourly', r.keepHourly],
    ['daily', r.keepDaily],
    ['weekly', r.keepWeekly],
    ['monthly', r.keepMonthly],
    ['yearly', r.keepYearly],
  ];
  for (const [unit, n] of counts) if (n !== undefined) parts.push(`${unit} ${n}`);
  if (r.keepWithin !== '') parts.push(`within ${r.keepWithin}`);
  if (r.keepTags.length > 0) parts.push(`tags ${r.keepTags.join(',')}`);
  return parts.length === 0 ? undefined : parts.join(', ');
}
