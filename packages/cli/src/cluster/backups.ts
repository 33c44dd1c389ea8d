/**
 * `ferry backup create|list|describe|status|cancel|delete` against the coordinator. These
 * are subcommands of the local `ferry backup [path...]`: a first argument that names one of
 * them selects the cluster form (a local directory with such a name is `./create`).
 */
import type { Command } from 'commander';
import type { Backup__Output, ListBackupsResponse__Output } from '@ferry/api';
import { parseDuration } from '@ferry/api';
import { CliError, ExitCode } from '../exit-codes.js';
import { backupRequest, backupSpecOptions, type BackupSpecFlags } from './backup-spec.js';
import {
  allNamespacesOption,
  collect,
  connectionOptions,
  followToEnd,
  listPaged,
  outputOption,
  printObject,
  runCluster,
  type ClusterHost,
  type ClusterRun,
} from './command.js';
import { progressDetail, progressLine, type OperationView } from './follow.js';
import { bytesCell, countCell, formatAge, formatMap, namespacedTable, renderFields, renderObject, renderTable, timeWithAge } from './format.js';
import { registerTransferCommands } from './transfer.js';

export function registerClusterBackupCommands(backup: Command, host: ClusterHost): void {
  const create = backup
    .command('create')
    .description('start a backup of pod volumes in a namespace (cluster)')
    .argument('[name]', 'Backup name (default: backup-YYYYMMDDHHMMSS)')
    .option('--wait', 'follow the backup until it ends; the exit code tells how it ended')
    .addHelpText('after', '\n  --tag <tag>                  tag the snapshots (repeatable; the option of "ferry backup")\n');
  connectionOptions(outputOption(backupSpecOptions(create, false)));
  create.action(async (name: string | undefined, _o: object, command: Command) => {
    await runCluster<BackupSpecFlags & { wait?: boolean }>(host, command, (run) => createBackup(run, name));
  });

  const list = backup.command('list').description('list backups (cluster), newest first');
  list
    .option('-l, --selector <selector>', 'only backups with these labels')
    .option('--phase <phase>', 'only backups in this phase (repeatable)', collect, [])
    .option('--schedule <name>', 'only backups made by this schedule')
    .option('--since <time>', 'only backups created at or after this RFC 3339 time (or a duration ago, e.g. 24h)')
    .option('--until <time>', 'only backups created before this RFC 3339 time (or a duration ago)');
  connectionOptions(outputOption(allNamespacesOption(list)));
  list.action(async (_o: object, command: Command) => {
    await runCluster<ListFlags>(host, command, (run) => listBackups(run, host.wallNow()));
  });

  const describe = backup.command('describe').description('show a backup with its volumes (cluster)').argument('<name>');
  connectionOptions(outputOption(describe, 'table|json|yaml'));
  describe.action(async (name: string, _o: object, command: Command) => {
    await runCluster(host, command, async (run) => {
      const b = await getBackup(run, name);
      run.out(run.output === 'json' || run.output === 'yaml' ? renderObject(b, run.output) : describeBackup(b, host.wallNow()));
      return ExitCode.ok;
    });
  });

  const statusCmd = backup.command('status').description("one line on a backup's progress; --watch follows it to the end (cluster)").argument('<name>');
  statusCmd.option('-w, --watch', 'follow until the backup ends; the exit code tells how it ended');
  connectionOptions(statusCmd);
  statusCmd.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ watch?: boolean }>(host, command, async (run) => {
      if (run.flags.watch === true) return followBackup(run, name);
      const b = await getBackup(run, name);
      run.out(`${progressLine(backupView(b), undefined)}\n`);
      return ExitCode.ok;
    });
  });

  const cancel = backup.command('cancel').description('cancel a running backup (cluster)').argument('<name>').option('--reason <text>', 'recorded on the Backup');
  connectionOptions(cancel);
  cancel.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ reason?: string }>(host, command, async (run) => {
      const req = { namespace: run.conn.namespace, name, reason: run.flags.reason ?? '' };
      const b = await run.conn.unary<Backup__Output>((md, opt, cb) => run.conn.backups.cancelBackup(req, md, opt, cb));
      run.out(`backup ${b.namespace}/${b.name} ${b.phase === 'Canceled' ? 'canceled' : `cancel requested (phase ${b.phase})`}\n`);
      return ExitCode.ok;
    });
  });

  const del = backup.command('delete').description('delete a Backup resource (cluster)').argument('<name>');
  del.option('--purge', "also forget the backup's snapshots in the repository (the data goes at the next prune)");
  connectionOptions(del);
  del.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ purge?: boolean }>(host, command, async (run) => {
      const req = { namespace: run.conn.namespace, name, purge: run.flags.purge === true };
      const res = await run.conn.unary<{ purging: boolean }>((md, opt, cb) => run.conn.backups.deleteBackup(req, md, opt, cb));
      run.out(`backup ${req.namespace}/${name} deleted${res.purging ? '; its snapshots are being forgotten first' : ''}\n`);
      return ExitCode.ok;
    });
  });

  registerTransferCommands(backup, host);
}

async function createBackup(run: ClusterRun<BackupSpecFlags & { wait?: boolean }>, name: string | undefined): Promise<number> {
  const req = backupRequest(run.flags, { namespace: run.conn.namespace, name: name ?? '' });
  const b = await run.conn.unary<Backup__Output>((md, opt, cb) => run.conn.backups.createBackup(req, md, opt, cb));
  if (run.flags.wait === true) {
    run.note(`backup ${b.namespace}/${b.name} created; following it (Ctrl-C stops watching, not the backup)`);
    return followBackup(run, b.name, b.namespace);
  }
  printObject(run, b, `backup/${b.name}`, `backup ${b.namespace}/${b.name} created (follow it with: ferry backup status ${b.name} -n ${b.namespace} --watch)`);
  return ExitCode.ok;
}

/** Follows to the end; prints how it ended and returns the exit code for it. */
function followBackup(run: ClusterRun<unknown>, name: string, namespace = run.conn.namespace): Promise<number> {
  return followToEnd<Backup__Output>(run, {
    what: `backup ${namespace}/${name}`,
    cancelHint: `cancel it with: ferry backup cancel ${name} -n ${namespace}`,
    open: () => run.conn.stream((md) => run.conn.backups.watchBackup({ namespace, name }, md)),
    view: backupView,
    summary: (b) => [
      `backup ${b.namespace}/${b.name} ${b.phase}: ${progressDetail(backupView(b))}${elapsed(b)}`,
      ...(b.message !== '' ? [`  ${b.message}`] : []),
      ...b.volumes.filter((v) => v.error !== '').map((v) => `  ${v.pod}/${v.volume}: ${v.error}`),
    ],
  });
}

function elapsed(b: Backup__Output): string {
  const start = Date.parse(b.startedAt || b.createdAt);
  const end = Date.parse(b.completedAt);
  if (Number.isNaN(start) || Number.isNaN(end)) return '';
  return ` in ${Math.max(0, Math.round((end - start) / 1000))}s`;
}

export function backupView(b: Backup__Output): OperationView {
  return { kind: 'backup', namespace: b.namespace, name: b.name, phase: b.phase, progress: b.progress };
}

async function getBackup(run: ClusterRun<unknown>, name: string): Promise<Backup__Output> {
  const req = { namespace: run.conn.namespace, name };
  return run.conn.unary<Backup__Output>((md, opt, cb) => run.conn.backups.getBackup(req, md, opt, cb));
}

interface ListFlags {
  readonly selector?: string;
  readonly phase: string[];
  readonly schedule?: string;
  readonly since?: string;
  readonly until?: string;
}

function listBackups(run: ClusterRun<ListFlags>, now: Date): Promise<number> {
  const filter = {
    labelSelector: run.flags.selector ?? '',
    phases: run.flags.phase,
    schedule: run.flags.schedule ?? '',
    since: pointInTime(run.flags.since, '--since', now),
    until: pointInTime(run.flags.until, '--until', now),
  };
  return listPaged(run, {
    kind: 'backup',
    name: (b) => b.name,
    table: backupTable,
    page: async (scope, pageToken) => {
      const req = { ...scope, ...filter, pageSize: 500, pageToken };
      const res = await run.conn.unary<ListBackupsResponse__Output>((md, opt, cb) => run.conn.backups.listBackups(req, md, opt, cb));
      return { items: res.backups, next: res.nextPageToken };
    },
  });
}

export function backupTable(backups: readonly Backup__Output[], o: { allNamespaces: boolean; now: Date }): string {
  const headers = ['NAME', 'PHASE', 'VOLUMES', 'BYTES', 'LOCATION', 'SCHEDULE', 'AGE'];
  return namespacedTable(headers, backups, o.allNamespaces, (b) => [
    b.name,
    b.phase || 'New',
    countCell(b.progress?.volumesDone ?? 0, b.progress?.volumesTotal ?? b.volumes.length),
    bytesCell(b.progress?.bytesDone),
    b.location,
    b.schedule,
    formatAge(b.createdAt, o.now),
  ]);
}

export function describeBackup(b: Backup__Output, now: Date): string {
  let text = renderFields([
    ['Name', b.name],
    ['Namespace', b.namespace],
    ['UID', b.uid],
    ['Phase', b.phase || 'New'],
    ['Message', b.message],
    ['Location', b.location],
    ['Mover', b.mover],
    ['Schedule', b.schedule],
    ['Tags', b.tags.join(',')],
    ['Labels', formatMap(b.labels)],
    ['Purge on delete', b.purgeOnDelete ? 'yes' : 'no'],
    ['Created', timeWithAge(b.createdAt, now)],
    ['Created by', b.createdBy],
    ['Started', timeWithAge(b.startedAt, now)],
    ['Completed', timeWithAge(b.completedAt, now)],
    ['Duration', elapsed(b).replace(/^ in /, '') || undefined],
    ['Progress', progressLine(backupView(b), undefined)],
  ]);
  text += '\nVolumes:\n';
  text += b.volumes.length === 0
    ? '  <none>\n'
    : indent(renderTable(
        ['NAMESPACE', 'POD', 'VOLUME', 'KIND', 'CLAIM', 'NODE', 'PHASE', 'SNAPSHOT', 'BYTES', 'ADDED', 'DEDUPLICATED', 'ERROR'],
        b.volumes.map((v) => [v.namespace, v.pod, v.volume, v.kind, v.claimName, v.node, v.phase || 'New', v.snapshotId.slice(0, 8), bytesCell(v.progress?.bytesDone), bytesCell(Number(v.bytesAdded)), bytesCell(Number(v.bytesDeduplicated)), v.error]),
      ));
  if (b.skipped.length > 0) {
    text += '\nSkipped:\n';
    text += indent(renderTable(['POD', 'VOLUME', 'REASON'], b.skipped.map((s) => [s.pod, s.volume, s.reason])));
  }
  return text;
}

/** An RFC 3339 time as is, or a duration (24h, 7d) as that long before now; '' when not given. */
export function pointInTime(value: string | undefined, flag: string, now: Date): string {
  if (value === undefined || value === '') return '';
  const ago = parseDuration(value);
  if (ago.ok) return new Date(now.getTime() - ago.milliseconds).toISOString();
  if (Number.isNaN(Date.parse(value))) throw new CliError(`${flag} "${value}": expected an RFC 3339 time (2030-05-01T10:00:00Z) or a duration ago (24h)`);
  return value;
}

export function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? line : `${by}${line}`))
    .join('\n');
}
