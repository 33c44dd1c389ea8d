/**
 * `ferry restore create|list|describe` against the coordinator: subcommands of the local
 * `ferry restore <snapshot> --target DIR` (snapshot ids are hex, so they never clash).
 */
import type { Command } from 'commander';
import type { Restore__Output, ListRestoresResponse__Output } from '@ferry/api';
import { CliError, ExitCode } from '../exit-codes.js';
import { parsePairs } from './backup-spec.js';
import { indent } from './backups.js';
import { allNamespacesOption, collect, connectionOptions, followToEnd, listPaged, outputOption, printObject, runCluster, type ClusterHost, type ClusterRun } from './command.js';
import { progressDetail, progressLine, type OperationView } from './follow.js';
import { bytesCell, countCell, formatAge, formatMap, namespacedTable, renderFields, renderObject, renderTable, timeWithAge } from './format.js';

interface CreateFlags {
  readonly fromBackup?: string;
  readonly namespaceMapping: string[];
  readonly selector?: string;
  readonly volumeTimeout?: string;
  readonly wait?: boolean;
}

export function registerClusterRestoreCommands(restore: Command, host: ClusterHost): void {
  const create = restore
    .command('create')
    .description("restore a cluster backup's volumes into its pods (cluster)")
    .argument('[name]', 'Restore name (default: generated from the backup)')
    .option('--from-backup <backup>', 'the Backup to restore (required)')
    .option('--namespace-mapping <src=dst>', 'restore pods of namespace src into dst (repeatable)', collect, [])
    .option('-l, --selector <selector>', 'only pods with these labels')
    .option('--volume-timeout <duration>', 'per-volume timeout, e.g. 4h')
    .option('--wait', 'follow the restore until it ends; the exit code tells how it ended');
  connectionOptions(outputOption(create));
  create.action(async (name: string | undefined, _o: object, command: Command) => {
    await runCluster<CreateFlags>(host, command, (run) => createRestore(run, name));
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

async function createRestore(run: ClusterRun<CreateFlags>, name: string | undefined): Promise<number> {
  const backup = run.flags.fromBackup;
  if (backup === undefined || backup === '') throw new CliError('which backup? give --from-backup NAME (see "ferry backup list")');
  const req = {
    namespace: run.conn.namespace,
    name: name ?? '',
    backup,
    namespaceMapping: parsePairs(run.flags.namespaceMapping, '--namespace-mapping'),
    podSelector: run.flags.selector ?? '',
    volumeTimeout: run.flags.volumeTimeout ?? '',
  };
  const r = await run.conn.unary<Restore__Output>((md, opt, cb) => run.conn.restores.createRestore(req, md, opt, cb));
  if (run.flags.wait !== true) {
    printObject(run, r, `restore/${r.name}`, `restore ${r.namespace}/${r.name} created from backup ${r.backup}`);
    return ExitCode.ok;
  }
  run.note(`restore ${r.namespace}/${r.name} created; following it (Ctrl-C stops watching, not the restore)`);
  return followToEnd<Restore__Output>(run, {
    what: `restore ${r.namespace}/${r.name}`,
    open: () => run.conn.stream((md) => run.conn.restores.watchRestore({ namespace: r.namespace, name: r.name }, md)),
    view: restoreView,
    summary: (done) => [
      `restore ${done.namespace}/${done.name} ${done.phase}: ${progressDetail(restoreView(done))}`,
      ...(done.message !== '' ? [`  ${done.message}`] : []),
      ...done.volumes.filter((v) => v.error !== '').map((v) => `  ${v.namespace}/${v.pod}/${v.volume}: ${v.error}`),
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
    ['Created', timeWithAge(r.createdAt, now)],
    ['Started', timeWithAge(r.startedAt, now)],
    ['Completed', timeWithAge(r.completedAt, now)],
    ['Progress', progressLine(restoreView(r), undefined)],
  ]);
  text += '\nVolumes:\n';
  text += r.volumes.length === 0
    ? '  <none>\n'
    : indent(renderTable(
        ['NAMESPACE', 'POD', 'VOLUME', 'NODE', 'PHASE', 'SNAPSHOT', 'BYTES', 'ERROR'],
        r.volumes.map((v) => [v.namespace, v.pod, v.volume, v.node, v.phase || 'New', v.snapshotId.slice(0, 8), bytesCell(v.progress?.bytesDone), v.error]),
      ));
  return text;
}
