import { hostname } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ReadDataSelection, Repository } from '@ferry/repository';
import { backupCommand } from './commands/backup.js';
import { catCommand } from './commands/cat.js';
import { checkCommand, parseReadDataSubset } from './commands/check.js';
import { dumpCommand } from './commands/dump.js';
import { initCommand } from './commands/init.js';
import { lsCommand } from './commands/ls.js';
import { restoreCommand } from './commands/restore.js';
import type { CommandResult } from './commands/result.js';
import { snapshotsCommand } from './commands/snapshots.js';
import { registerForgetCommand } from './commands/forget.js';
import { registerKeyCommand } from './commands/key.js';
import { registerPruneCommand, staleAfterFromEnv } from './commands/prune.js';
import { describeError } from './errors.js';
import { CliError, EXIT_CODES_HELP, ExitCode, exitCodeForError } from './exit-codes.js';
import { systemClock } from '@ferry/blobstore';
import { registerClusterBackupCommands } from './cluster/backups.js';
import type { ClusterHost } from './cluster/command.js';
import { registerRepoCommands } from './cluster/repos.js';
import { registerClusterRestoreCommands } from './cluster/restores.js';
import { registerLogsCommand } from './cluster/logs.js';
import { registerScheduleCommands } from './cluster/schedules.js';
import type { CliIO } from './io.js';
import { createReporter, type Reporter } from './reporter.js';
import {
  ensureRepositoryBucket,
  openRepository,
  openRepositoryStore,
  readCredential,
  type ErrorContext,
  type GlobalOptions,
  type SessionOptions,
} from './session.js';

export const VERSION = '0.1.0';

export interface RunOptions {
  /** Arguments after the program name (process.argv.slice(2)). */
  readonly args: readonly string[];
  readonly io: CliIO;
  /** Fires on SIGINT; commands stop cleanly and the run returns 130. */
  readonly signal?: AbortSignal;
}

/** Runs one `ferry` invocation and returns its exit code; never throws. */
export async function runCli(options: RunOptions): Promise<number> {
  const context: ErrorContext = { secrets: [] };
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(options, context, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...options.args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.error;
    const code = exitCodeForError(err, options.signal);
    options.io.stderr.write(`${describeError(err, context, code)}\n`);
    if (options.io.env['FERRY_DEBUG'] === '1') options.io.stderr.write(`${debugStack(err)}\n`);
    return code;
  }
  return exitCode;
}

function debugStack(err: unknown): string {
  const lines: string[] = [];
  let current: unknown = err;
  while (current instanceof Error) {
    lines.push(current.stack ?? String(current));
    current = current.cause;
    if (current !== undefined) lines.push('caused by:');
  }
  return lines.join('\n');
}

function buildProgram(run: RunOptions, context: ErrorContext, setExit: (code: number) => void): Command {
  const { io } = run;
  const program = new Command('ferry')
    .description('Encrypted, deduplicating backups of directories to a local directory or S3, and of pod volumes on a Kubernetes cluster through its coordinator.')
    .version(VERSION)
    .option('-r, --repo <location>', 'repository: a directory or s3:http(s)://host[:port]/bucket[/prefix] (env FERRY_REPOSITORY)')
    .option('--password-file <file>', 'read the repository password from a file (env FERRY_PASSWORD otherwise)')
    .option('--cluster-key-file <file>', 'open with a cluster key instead: 32 bytes or 64 hex chars (env FERRY_CLUSTER_KEY as hex)')
    .option('--json', 'print JSON lines on stdout (progress, then a summary)')
    .option('-q, --quiet', 'print only errors and warnings')
    .option('-v, --verbose', 'print more detail')
    .addOption(new Option('--limit-upload <kib>', 'limit uploads to this many KiB/s').argParser(positiveNumber))
    .addOption(new Option('--limit-download <kib>', 'limit downloads to this many KiB/s').argParser(positiveNumber))
    .option('--cache-dir <dir>', 'cache tree packs here (default for S3 repositories: $XDG_CACHE_HOME/ferry or ~/.cache/ferry; env FERRY_CACHE_DIR)')
    .option('--no-cache', 'do not cache tree packs locally')
    .addHelpText(
      'after',
      `\nEnvironment: FERRY_REPOSITORY, FERRY_PASSWORD, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n  AWS_CA_BUNDLE (PEM for a private S3 endpoint), FERRY_CACHE_DIR, FERRY_DEBUG=1 (stack traces);\n  cluster commands: FERRY_SERVER, FERRY_CA, FERRY_TOKEN, FERRY_EXPORT_PASSWORD (docs/cli.md).\n\n${EXIT_CODES_HELP}\n`,
    )
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`ferry: ${s.replace(/^error: /, '')}`),
    });

  // One place that turns a command's parsed options into a run: reporter, signal,
  // the repository opened and closed, the exit code recorded.
  const session = (command: Command): { global: GlobalOptions; reporter: Reporter; session: SessionOptions } => {
    const global = command.optsWithGlobals<GlobalOptions>();
    const reporter = createReporter({ io, json: global.json === true, quiet: global.quiet === true, verbose: global.verbose === true });
    return { global, reporter, session: { global, io, context, ...(run.signal !== undefined ? { signal: run.signal } : {}) } };
  };
  const withRepository = async (
    command: Command,
    body: (repository: Repository, reporter: Reporter, global: GlobalOptions) => Promise<CommandResult>,
  ): Promise<void> => {
    const { global, reporter, session: s } = session(command);
    const repository = await openRepository(s);
    try {
      setExit((await body(repository, reporter, global)).exitCode);
    } finally {
      reporter.close();
      await repository.close();
    }
  };
  const signal = run.signal !== undefined ? { signal: run.signal } : {};

  program
    .command('init')
    .description('create a new repository (asks for the password twice on a terminal)')
    .action(async (_opts: object, command: Command) => {
      const { reporter, session: s } = session(command);
      const store = openRepositoryStore(s);
      const credential = await readCredential(s, true);
      await ensureRepositoryBucket(s);
      setExit((await initCommand({ store, credential, reporter, label: hostname() })).exitCode);
    });

  const backup = program
    .command('backup')
    .description('back up PATHs (or stdin) as a new snapshot; "backup create|list|..." work on a cluster')
    .argument('[path...]', 'files or directories to back up')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
    .option('--exclude <glob>', 'skip matching paths, relative to each PATH (* within a name, ** across; repeatable); with "create", inside each volume', collect, [])
    .option('--host <name>', 'host name recorded in the snapshot (default: this host)')
    .option('--stdin', 'back up standard input as one file')
    .option('--stdin-filename <name>', 'file name for --stdin', 'stdin')
    .action(async (paths: string[], opts: BackupFlags, command: Command) => {
      await withRepository(command, (repository, reporter) =>
        backupCommand({
          repository,
          reporter,
          paths,
          tags: opts.tag,
          excludes: opts.exclude,
          ...(opts.host !== undefined ? { host: opts.host } : {}),
          ...(opts.stdin === true ? { stdin: io.stdin, stdinFilename: opts.stdinFilename } : {}),
          staleAfterMs: staleAfterFromEnv(io.env),
          ...signal,
        }),
      );
    });

  // --target is checked in the action, not required by commander: commander checks a
  // parent's required options for its subcommands too, and `restore create` has none.
  const restore = program
    .command('restore')
    .description('restore a snapshot (id, unique prefix or "latest") into a directory; "restore create|list|describe" work on a cluster')
    .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
    .option('-t, --target <dir>', 'directory to restore into (required)')
    .option('-i, --include <path>', 'restore only this path of the snapshot (and below)')
    .action(async (snapshot: string, opts: { target?: string; include?: string }, command: Command) => {
      const target = opts.target;
      if (target === undefined) throw new CliError('where to? give -t/--target DIR to restore the snapshot into');
      await withRepository(command, (repository, reporter) =>
        restoreCommand({
          repository,
          reporter,
          snapshot,
          target,
          ...(opts.include !== undefined ? { include: opts.include } : {}),
          ...signal,
        }),
      );
    });

  program
    .command('snapshots')
    .description('list snapshots, oldest first')
    .action(async (_opts: object, command: Command) => {
      await withRepository(command, (repository, reporter) => snapshotsCommand({ repository, reporter, out: io.stdout, ...signal }));
    });

  program
    .command('ls')
    .description('list the files of a snapshot (below PATH)')
    .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
    .argument('[path]', 'directory inside the snapshot')
    .option('-l, --long', 'show mode, owner, size and mtime')
    .action(async (snapshot: string, path: string | undefined, opts: { long?: boolean }, command: Command) => {
      await withRepository(command, (repository, reporter, global) =>
        lsCommand({
          repository,
          reporter,
          out: io.stdout,
          snapshot,
          long: opts.long === true || global.verbose === true,
          ...(path !== undefined ? { path } : {}),
          ...signal,
        }),
      );
    });

  program
    .command('check')
    .description('verify the repository (index, packs, snapshots, trees); with --read-data also every blob')
    .option('--read-data', 'download every pack and verify every blob in it')
    .addOption(
      new Option('--read-data-subset <N/M|P%>', 'read only part of the packs: N/M by pack id (run 1/M..M/M to cover all), or a random P%').argParser(
        parseReadDataSubset,
      ),
    )
    .action(async (opts: { readData?: boolean; readDataSubset?: ReadDataSelection }, command: Command) => {
      const { global, reporter, session: s } = session(command);
      const readData = opts.readDataSubset ?? (opts.readData === true ? 'all' : undefined);
      try {
        const result = await checkCommand({
          open: () => openRepository(s),
          reporter,
          io,
          quiet: global.quiet === true,
          ...(readData !== undefined ? { readData } : {}),
          ...signal,
        });
        setExit(result.exitCode);
      } finally {
        reporter.close();
      }
    });

  program
    .command('cat')
    .description('print the repository config ("cat config") or a snapshot ("cat snapshot ID") as JSON')
    .argument('<what>', '"config" or "snapshot"')
    .argument('[id]', 'snapshot id, unique id prefix, or "latest"')
    .action(async (what: string, id: string | undefined, _opts: object, command: Command) => {
      await withRepository(command, (repository, _reporter, global) =>
        catCommand({ repository, out: io.stdout, what, compact: global.json === true, ...(id !== undefined ? { id } : {}) }),
      );
    });

  program
    .command('dump')
    .description('write a file of a snapshot to stdout, or a directory as a tar (pax) archive')
    .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
    .argument('<path>', 'file or directory inside the snapshot ("/" for everything)')
    .action(async (snapshot: string, path: string, _opts: object, command: Command) => {
      await withRepository(command, (repository) => dumpCommand({ repository, out: io.stdout, snapshot, path, ...signal }));
    });

  const host = { io, ...signal, prepare: session, withRepository, setExit };
  registerForgetCommand(program, host);
  registerPruneCommand(program, host);
  registerKeyCommand(program, host);

  const cluster: ClusterHost = { io, context, setExit, clock: systemClock, wallNow: () => new Date(), ...signal };
  registerClusterBackupCommands(backup, cluster);
  registerClusterRestoreCommands(restore, cluster);
  registerLogsCommand(backup, cluster, 'backup');
  registerLogsCommand(restore, cluster, 'restore');
  registerScheduleCommands(program, cluster);
  registerRepoCommands(program, cluster);

  return program;
}

interface BackupFlags {
  tag: string[];
  exclude: string[];
  host?: string;
  stdin?: boolean;
  stdinFilename: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of KiB/s');
  return n;
}
