/**
 * `ferry restore create|list|describe` against the coordinator: subcommands of the local
 * `ferry restore <snapshot> --target DIR` (snapshot ids are hex, so they never clash).
 */
import type { Command } from 'commander';
import type { CreateRestoreRequest, Restore__Output, ListRestoresResponse__Output, RestoreSnapshotRef } from '@ferry/api';
import { CliError, ExitCode } from '../exit-codes.js';
import { parsePairs } from './backup-spec.js';
import { addClaimOptions, claimFields, type ClaimFlags } from './restore-claims.js';
import { indent, pointInTime } from './backups.js';
import { allNamespacesOption, collect, connectionOptions, followToEnd, listPaged, outputOption, printObject, runCluster, type ClusterHost, type ClusterRun } from './command.js';
import { progressDetail, progressLine, type OperationView } from './follow.js';
import { bytesCell, countCell, formatAge, formatMap, namespacedTable, renderFields, renderObject, renderTable, timeWithAge } from './format.js';

interface CreateFlags extends ClaimFlags {
  readonly fromBackup?: string;
  readonly latest?: boolean;
  readonly schedule?: string;
  readonly asOf?: string;
  readonly previous?: number;
  readonly snapshot: string[];
  readonly location?: string;
  readonly volume: string[];
  readonly includeNamespace: string[];
  readonly namespaceMapping: string[];
  readonly namespacePrefix?: string;
  readonly namespaceSuffix?: string;
  readonly selector?: string;
  readonly volumeTimeout?: string;
  readonly skipHooks?: boolean;
  readonly wait?: boolean;
}

export function registerClusterRestoreCommands(restore: Command, host: ClusterHost): void {
  const create = restore
    .command('create')
    .description("restore a cluster backup's volumes into its pods (cluster)")
    .argument('[name]', 'Restore name (default: generated from the backup)')
    .option('--from-backup <backup>', 'the Backup to restore')
    .option('--latest', 'restore the newest Completed Backup (resolved when the restore starts)')
    .option('--schedule <name>', 'with --latest: only Backups of this schedule')
    .option('--as-of <time>', 'with --latest: only Backups started at or before this RFC 3339 time (or a duration ago, e.g. 24h)')
    .option('--previous <n>', 'with --latest: skip this many newer Backups (0: the newest)', positiveOrZero)
    .option('--snapshot <ns/volume=id>', 'restore this snapshot of the namespace\'s volume instead of a Backup (repeatable; needs --location)', collect, [])
    .option('--location <name>', 'with --snapshot: the BackupLocation holding the snapshots')
    .option('--volume <name>', 'only volumes with this name (repeatable)', collect, [])
    .option('--include-namespace <ns>', 'only volumes from this source namespace (repeatable)', collect, [])
    .option('--namespace-mapping <src=dst>', 'restore pods of namespace src into dst (repeatable)', collect, [])
    .option('--namespace-prefix <prefix>', 'restore every unmapped namespace ns into <prefix>ns')
    .option('--namespace-suffix <suffix>', 'restore every unmapped namespace ns into ns<suffix> (after the prefix)')
    .option('-l, --selector <selector>', 'only pods with these labels')
    .option('--volume-timeout <duration>', 'per-volume timeout, e.g. 4h')
    .option('--skip-hooks', "run none of the restored pods' restore hooks (post.hook.restore.ferry.dev)")
    .option('--wait', 'follow the restore until it ends; the exit code tells how it ended');
  addClaimOptions(create);
  connectionOptions(outputOption(create));
  create.action(async (name: string | undefined, _o: object, command: Command) => {
    await runCluster<CreateFlags>(host, command, (run) => createRestore(run, name, host.wallNow()));
  });

  const cancel = restore.command('cancel').description('cancel a running restore; pods held for it start without restored data (cluster)').argument('<name>').option('--reason <text>', 'recorded on the Restore');
  connectionOptions(cancel);
  cancel.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ reason?: string }>(host, command, async (run) => {
      const req = { namespace: run.conn.namespace, name, reason: run.flags.reason ?? '' };
      const r = await run.conn.unary<Restore__Output>((md, opt, cb) => run.conn.restores.cancelRestore(req, md, opt, cb));
      run.out(`restore ${r.namespace}/${r.name} ${r.phase === 'Canceled' ? 'canceled' : `cancel requested (phase ${r.phase})`}\n`);
      return ExitCode.ok;
    });
  });

  const list = restore.command('list').description('list restores (cluster), newest first');
  list.option('-l, --selector <selector>', 'only restores with these labels').option('--phase <phase>', 'only restores in this phase (repeatable)', collect, []);
  connectionOptions(outputOption(allNamespacesOption(list)));
  list.action(async (_o: object, command: Command) => {
    await runCluster<{ selector?: string; phase: string[] }>(host, command, (run) => listRestores(run));
  });

  const describe = restore.command('describe').description('show a restore with its volumes (cluster)').argument('<name>');
  connectionOptions(outputOption(describe, 'table|json|yaml'));
  describe.action(async (name: string, _o: object, command: Command) => {
    await runCluster(host, command, async (run) => {
      const req = { namespace: run.conn.namespace, name };
      const r = await run.conn.unary<Restore__Output>((md, opt, cb) => run.conn.restores.getRestore(req, md, opt, cb));
      run.out(run.output === 'json' || run.output === 'yaml' ? renderObject(r, run.output) : describeRestore(r, host.wallNow()));
      return ExitCode.ok;
    });
  });
}

function positiveOrZero(value: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`--previous "${value}": expected 0 or a positive whole number`);
  return Number(value);
}

/** `shop/data=<64 hex>` into a snapshot reference. */
function parseSnapshot(value: string, location: string | undefined): RestoreSnapshotRef {
  const m = /^([^/=]+)\/([^/=]+)=([^=]+)$/.exec(value);
  if (!m) throw new CliError(`--snapshot "${value}": expected NAMESPACE/VOLUME=SNAPSHOT_ID`);
  if (location === undefined) throw new CliError('--snapshot needs --location NAME: the BackupLocation holding the snapshots (see "ferry repo list")');
  return { namespace: m[1]!, volume: m[2]!, snapshotId: m[3]!, location, claimName: '', pod: '' };
}

/** Exactly one of --from-backup, --latest and --snapshot: the request's source fields. */
function sourceFields(flags: CreateFlags, now: Date): Pick<CreateRestoreRequest, 'backup' | 'latest' | 'schedule' | 'asOf' | 'previous' | 'snapshots'> {
  const given = [flags.fromBackup !== undefined, flags.latest === true, flags.snapshot.length > 0].filter((x) => x).length;
  if (given === 0) throw new CliError('which backup? give --from-backup NAME (see "ferry backup list"), --latest or --snapshot');
  if (given > 1) throw new CliError('give only one of --from-backup, --latest and --snapshot');
  if (flags.latest !== true && (flags.schedule !== undefined || flags.asOf !== undefined || flags.previous !== undefined)) throw new CliError('--schedule, --as-of and --previous choose among backups with --latest; add --latest');
  return {
    backup: flags.fromBackup ?? '',
    latest: flags.latest === true,
    schedule: flags.schedule ?? '',
    asOf: pointInTime(flags.asOf, '--as-of', now),
    previous: flags.previous ?? 0,
    snapshots: flags.snapshot.map((s) => parseSnapshot(s, flags.location)),
  };
}

async function createRestore(run: ClusterRun<CreateFlags>, name: string | undefined, now: Date): Promise<number> {
  const req: CreateRestoreRequest = {
    namespace: run.conn.namespace,
    name: name ?? '',
    ...sourceFields(run.flags, now),
    namespaceMapping: parsePairs(run.flags.namespaceMapping, '--namespace-mapping'),
    namespacePrefix: run.flags.namespacePrefix ?? '',
    namespaceSuffix: run.flags.namespaceSuffix ?? '',
    podSelector: run.flags.selector ?? '',
    volumeTimeout: run.flags.volumeTimeout ?? '',
    volumes: run.flags.volume,
    sourceNamespaces: run.flags.includeNamespace,
    ...claimFields(run.flags),
    skipHooks: run.flags.skipHooks === true,
  };
  const r = await run.conn.unary<Restore__Output>((md, opt, cb) => run.conn.restores.createRestore(req, md, opt, cb));
  if (run.flags.wait !== true) {
    printObject(run, r, `restore/${r.name}`, `restore ${r.namespace}/${r.name} created from ${r.source === 'snapshots' ? `${req.snapshots?.length ?? 0} snapshot(s)` : `${r.source === 'latest' ? 'the latest backup, ' : 'backup '}${r.backup}`}`);
    return ExitCode.ok;
  }
  run.note(`restore ${r.namespace}/${r.name} created${r.backup ? ` from backup ${r.backup}` : ''}; following it (Ctrl-C stops watching, not the restore)`);
  return followToEnd<Restore__Output>(run, {
    what: `restore ${r.namespace}/${r.name}`,
    open: () => run.conn.stream((md) => run.conn.restores.watchRestore({ namespace: r.namespace, name: r.name }, md)),
    view: restoreView,
    summary: (done) => [
      `restore ${done.namespace}/${done.name} ${done.phase}: ${progressDetail(restoreView(done))}`,
      ...(done.message !== '' ? [`  ${done.message}`] : []),
      ...done.volumes.filter((v) => v.error !== '').map((v) => `  ${v.namespace}/${v.pod}/${v.volume}: ${v.error}`),
      ...done.claims.filter((k) => k.phase === 'Failed').map((k) => `  claim ${k.namespace}/${k.name}: ${k.reason}: ${k.message}`),
      ...done.hooks.filter((h) => h.outcome === 'Failed').map((h) => `  restore hook ${h.namespace}/${h.pod}: ${h.message} (on-error ${h.onError || 'Fail'})`),
    ],
  });
}

export function restoreView(r: Restore__Output): OperationView {
  return { kind: 'restore', namespace: r.namespace, name: r.name, phase: r.phase, progress: r.progress };
}

function listRestores(run: ClusterRun<{ selector?: string; phase: string[] }>): Promise<number> {
  const filter = { labelSelector: run.flags.selector ?? '', phases: run.flags.phase };
  return listPaged(run, {
    kind: 'restore',
    name: (r) => r.name,
    table: restoreTable,
    page: async (scope, pageToken) => {
      const req = { ...scope, ...filter, pageSize: 500, pageToken };
      const res = await run.conn.unary<ListRestoresResponse__Output>((md, opt, cb) => run.conn.restores.listRestores(req, md, opt, cb));
      return { items: res.restores, next: res.nextPageToken };
    },
  });
}

export function restoreTable(restores: readonly Restore__Output[], o: { allNamespaces: boolean; now: Date }): string {
  const headers = ['NAME', 'BACKUP', 'PHASE', 'VOLUMES', 'BYTES', 'AGE'];
  return namespacedTable(headers, restores, o.allNamespaces, (r) => [
    r.name,
    r.backup,
    r.phase || 'New',
    countCell(r.progress?.volumesDone ?? 0, r.progress?.volumesTotal ?? r.volumes.length),
    bytesCell(r.progress?.bytesDone),
    formatAge(r.createdAt, o.now),
  ]);
}

export function describeRestore(r: Restore__Output, now: Date): string {
  let text = renderFields([
    ['Name', r.name],
    ['Namespace', r.namespace],
    ['UID', r.uid],
    ['Backup', r.backup],
    ['Phase', r.phase || 'New'],
    ['Message', r.message],
    ['Namespace mapping', formatMap(r.namespaceMapping)],
    ['Namespace prefix/suffix', r.namespacePrefix || r.namespaceSuffix ? `${r.namespacePrefix}<namespace>${r.namespaceSuffix}` : ''],
    ['Restore hooks', r.skipHooks ? 'Skip (spec.hooks)' : undefined],
    ['Created', timeWithAge(r.createdAt, now)],
    ['Started', timeWithAge(r.startedAt, now)],
    ['Completed', timeWithAge(r.completedAt, now)],
    ['Progress', progressLine(restoreView(r), undefined)],
  ]);
  if (r.claims.length > 0) {
    text += '\nClaims:\n';
    text += indent(renderTable(['NAMESPACE', 'CLAIM', 'FROM', 'CREATED', 'PHASE', 'REASON', 'MESSAGE'], r.claims.map((k) => [k.namespace, k.name, k.sourceClaim, k.created ? 'yes' : 'no', k.phase, k.reason, k.message])));
  }
  text += '\nVolumes:\n';
  text += r.volumes.length === 0
    ? '  <none>\n'
    : indent(renderTable(
        ['NAMESPACE', 'POD', 'VOLUME', 'NODE', 'PHASE', 'SNAPSHOT', 'BYTES', 'ERROR'],
        r.volumes.map((v) => [v.namespace, v.pod, v.volume, v.node, v.phase || 'New', v.snapshotId.slice(0, 8), bytesCell(v.progress?.bytesDone), v.error]),
      ));
  if (r.hooks.length > 0) text += `\nRestore hooks:\n${restoreHooksTable(r.hooks)}`;
  return text;
}

/** One row per pod with a restore hook; the exit code only once the hook ran (-1: unknown, e.g. timed out). */
function restoreHooksTable(hooks: Restore__Output['hooks']): string {
  return indent(renderTable(
    ['NAMESPACE', 'POD', 'CONTAINER', 'OUTCOME', 'EXIT', 'ON-ERROR', 'MESSAGE'],
    hooks.map((h) => [h.namespace, h.pod, h.container, h.outcome, h.outcome === 'Succeeded' || h.outcome === 'Failed' ? String(h.exitCode) : '', h.onError, h.outcome === 'Succeeded' ? '' : h.message]),
  ));
}
