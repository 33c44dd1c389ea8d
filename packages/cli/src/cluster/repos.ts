/**
 * `ferry repo list|check|prune|snapshots` against the coordinator. Check and prune run on
 * an agent; `--wait` polls the repository until the run that started after the request
 * has a result (there is no watch stream for repositories).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { BackupRepository__Output, MaintenanceRun__Output, Snapshot__Output, ListRepositoriesResponse__Output } from '@ferry/api';
import { CliError, ExitCode } from '../exit-codes.js';
import { allNamespacesOption, collect, connectionOptions, listPaged, outputOption, runCluster, type ClusterHost, type ClusterRun } from './command.js';
import { bytesCell, formatAge, namespacedTable, renderItems, renderObject, renderTable } from './format.js';

type Maintenance = 'check' | 'prune';

export function registerRepoCommands(program: Command, host: ClusterHost): void {
  const repo = program.command('repo').description("a cluster's backup repositories: list, check, prune, snapshots");

  const list = repo.command('list').description('list repositories (one per location and namespace)');
  connectionOptions(outputOption(allNamespacesOption(list)));
  list.action(async (_o: object, command: Command) => {
    await runCluster(host, command, (run) => listRepos(run));
  });

  const check = repo
    .command('check')
    .description('ask an agent to verify the repository now')
    .argument('<repository>', 'BackupRepository name (see "ferry repo list")')
    .addOption(new Option('--read-data-percent <p>', 'also read back and verify this share of the pack data (0..100)').argParser(percent).default(0))
    .option('--wait', 'wait for the result; exit 0 when it passed');
  connectionOptions(outputOption(check, 'table|json|yaml'));
  check.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ readDataPercent: number; wait?: boolean }>(host, command, (run) => maintain(run, name, 'check'));
  });

  const prune = repo
    .command('prune')
    .description('ask an agent to remove data no snapshot uses any more')
    .argument('<repository>', 'BackupRepository name (see "ferry repo list")')
    .option('--wait', 'wait for the result; exit 0 when it succeeded');
  connectionOptions(outputOption(prune, 'table|json|yaml'));
  prune.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ wait?: boolean }>(host, command, (run) => maintain(run, name, 'prune'));
  });

  const snapshots = repo
    .command('snapshots')
    .description("list a repository's snapshots")
    .argument('<repository>', 'BackupRepository name (see "ferry repo list")')
    .option('--tag <tag>', 'only snapshots with this tag (repeatable: all of them)', collect, []);
  connectionOptions(outputOption(snapshots, 'table|json|yaml'));
  snapshots.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ tag: string[] }>(host, command, async (run) => {
      const req = { repository: name, namespace: run.conn.namespace, tags: run.flags.tag };
      const res = await run.conn.unary<{ snapshots: Snapshot__Output[] }>((md, opt, cb) => run.conn.repositories.listSnapshots(req, md, opt, cb));
      if (run.output === 'json' || run.output === 'yaml') run.out(renderItems(res.snapshots, run.output));
      else if (res.snapshots.length === 0) run.note(`No snapshots in repository ${name}.`);
      else run.out(snapshotTable(res.snapshots, host.wallNow()));
      return ExitCode.ok;
    });
  });
}

function percent(value: string): number {
  const n = Number(value.replace(/%$/, ''));
  if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError('expected a percentage from 0 to 100');
  return n;
}

function listRepos(run: ClusterRun<unknown>): Promise<number> {
  return listPaged(run, {
    kind: 'repository',
    plural: 'repositories',
    name: (r) => r.name,
    table: repoTable,
    // Not paged: one repository per location and namespace.
    page: async (scope) => {
      const res = await run.conn.unary<ListRepositoriesResponse__Output>((md, opt, cb) => run.conn.repositories.listRepositories(scope, md, opt, cb));
      return { items: res.repositories, next: '' };
    },
  });
}

export function repoTable(repos: readonly BackupRepository__Output[], o: { allNamespaces: boolean; now: Date }): string {
  const headers = ['NAME', 'LOCATION', 'MOVER', 'PHASE', 'SIZE', 'SNAPSHOTS', 'LAST CHECK', 'LAST PRUNE'];
  return namespacedTable(headers, repos, o.allNamespaces, (r) => [
    r.name,
    r.location,
    r.mover,
    r.phase || '-',
    bytesCell(r.sizeBytes),
    String(r.snapshotCount),
    runCell(r.lastCheck, o.now),
    runCell(r.lastPrune, o.now),
  ]);
}

/** `Succeeded 3h ago`, `Running`, `<never>`. */
function runCell(run: MaintenanceRun__Output | null, now: Date): string {
  if (run === null || (run.result === '' && run.startedAt === '')) return '<never>';
  const at = run.completedAt || run.startedAt;
  return at !== '' && run.result !== 'Running' ? `${run.result} ${formatAge(at, now)} ago` : run.result || 'Running';
}

export function snapshotTable(snapshots: readonly Snapshot__Output[], now: Date): string {
  return renderTable(
    ['ID', 'TIME', 'AGE', 'HOST', 'PATHS', 'TAGS', 'SIZE'],
    snapshots.map((s) => [s.id.slice(0, 8), s.time, formatAge(s.time, now), s.hostname, s.paths.join(','), s.tags.join(','), bytesCell(s.sizeBytes)]),
  );
}

async function maintain(run: ClusterRun<{ readDataPercent?: number; wait?: boolean }>, name: string, op: Maintenance): Promise<number> {
  const { conn } = run;
  const namespace = conn.namespace;
  const before = run.flags.wait === true ? lastRun(await getRepo(run, name), op) : null;
  const repo =
    op === 'check'
      ? await conn.unary<BackupRepository__Output>((md, opt, cb) => conn.repositories.checkRepository({ repository: name, namespace, readDataPercent: run.flags.readDataPercent ?? 0 }, md, opt, cb))
      : await conn.unary<BackupRepository__Output>((md, opt, cb) => conn.repositories.pruneRepository({ repository: name, namespace }, md, opt, cb));
  if (run.flags.wait !== true) {
    if (run.output === 'json' || run.output === 'yaml') run.out(renderObject(repo, run.output));
    else run.out(`${op} of repository ${name} requested; see its result with: ferry repo list -n ${namespace}\n`);
    return ExitCode.ok;
  }
  run.note(`${op} of repository ${name} requested; waiting for its result`);
  const done = await waitForRun(run, name, op, before);
  const result = lastRun(done, op);
  if (run.output === 'json' || run.output === 'yaml') run.out(renderObject(done, run.output));
  else run.out(`${maintenanceSummary(op, name, result)}\n`);
  return result?.result === 'Succeeded' ? ExitCode.ok : ExitCode.error;
}

function lastRun(repo: BackupRepository__Output, op: Maintenance): MaintenanceRun__Output | null {
  return op === 'check' ? repo.lastCheck : repo.lastPrune;
}

async function getRepo(run: ClusterRun<unknown>, name: string): Promise<BackupRepository__Output> {
  const req = { name, namespace: run.conn.namespace };
  return run.conn.unary<BackupRepository__Output>((md, opt, cb) => run.conn.repositories.getRepository(req, md, opt, cb));
}

/** Polls until the run differs from `before` and has a final result. */
async function waitForRun(run: ClusterRun<unknown>, name: string, op: Maintenance, before: MaintenanceRun__Output | null): Promise<BackupRepository__Output> {
  const { clock, signal } = run.host;
  const seen = runKey(before);
  let announced = '';
  for (;;) {
    const repo = await getRepo(run, name);
    const current = lastRun(repo, op);
    const key = runKey(current);
    if (key !== seen && current !== null && current.result !== 'Running' && current.result !== '') return repo;
    if (current !== null && key !== seen && announced !== key) {
      announced = key;
      run.note(`${op} of repository ${name}: ${current.result || 'Running'} since ${current.startedAt}`);
    }
    try {
      await clock.sleep(2000, signal);
    } catch {
      throw new CliError(`stopped waiting; the ${op} of repository ${name} goes on in the cluster`, ExitCode.interrupted);
    }
  }
}

function runKey(r: MaintenanceRun__Output | null): string {
  return r === null ? '' : `${r.startedAt}|${r.completedAt}|${r.result}`;
}

export function maintenanceSummary(op: Maintenance, name: string, r: MaintenanceRun__Output | null): string {
  if (r === null) return `${op} of repository ${name}: no result`;
  // The agent's message already says how much was read back; the figure stands alone only without it.
  const detail =
    op === 'check'
      ? `${r.errors} error(s)${r.message !== '' ? `: ${r.message}` : r.readDataPercent > 0 ? `, ${r.readDataPercent}% of the data read back` : ''}`
      : `${bytesCell(r.bytesFreed)} freed${r.message !== '' ? `: ${r.message}` : ''}`;
  return `${op} of repository ${name} ${r.result}: ${detail}`;
}
