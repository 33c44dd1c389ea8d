/**
 * Plumbing shared by every cluster command: the connection and output flags, the
 * connection opened and closed around the command body, list paging, and the way each
 * command reports how it ended (its exit code).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Clock } from '@ferry/blobstore';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { ExitCode } from '../exit-codes.js';
import type { CliIO } from '../io.js';
import type { ErrorContext, GlobalOptions } from '../session.js';
import type { ClusterConnection, ConnectionFlags } from './connection.js';
import { displayMode, exitCodeForPhase, followOperation, ProgressDisplay, type OperationView } from './follow.js';
import { parseOutputFormat, renderItems, renderObject, type OutputFormat } from './format.js';

export interface ClusterHost {
  readonly io: CliIO;
  readonly context: ErrorContext;
  readonly signal?: AbortSignal;
  readonly setExit: (code: number) => void;
  readonly clock: Clock;
  /** Wall-clock time for ages. */
  readonly wallNow: () => Date;
}

export interface ClusterFlags extends ConnectionFlags, GlobalOptions {
  readonly allNamespaces?: boolean;
  readonly output?: OutputFormat;
}

/** What a command body gets: the open connection, its flags, and output helpers. */
export interface ClusterRun<F> {
  readonly conn: ClusterConnection;
  readonly flags: F & ClusterFlags;
  readonly host: ClusterHost;
  /** -o, with --json meaning -o json. */
  readonly output: OutputFormat;
  readonly quiet: boolean;
  out(text: string): void;
  /** A notice on stderr (not with --quiet). */
  note(line: string): void;
  progressDisplay(): ProgressDisplay;
}

export interface ConnectionOptionsOptions {
  /**
   * False where `--key` means something else (`backup export --key none`): the client
   * certificate's key is then only `--client-key`.
   */
  readonly tlsKeyFlag?: boolean;
}

/** --server, TLS and auth flags, and -n. */
export function connectionOptions(command: Command, o: ConnectionOptionsOptions = {}): Command {
  command
    .option('--server <host:port>', "the coordinator's API address (env FERRY_SERVER)")
    .option('--ca <file>', "PEM CA bundle that signed the coordinator's certificate (env FERRY_CA; default: the system CAs)")
    .option('--cert <file>', 'PEM client certificate for mutual TLS (with --key)');
  if (o.tlsKeyFlag !== false) command.option('--key <file>', 'PEM private key of --cert');
  return command
    .option('--client-key <file>', 'same as --key')
    .option('--token <token>', 'bearer token, checked by the cluster with TokenReview (env FERRY_TOKEN)')
    .option('--kubeconfig <file>', "use the bearer token of this kubeconfig's current context (and its namespace)")
    .option('--tls-server-name <name>', "name to verify in the coordinator's certificate instead of the --server host")
    .option('--insecure', 'plaintext, no TLS: local development only')
    .option('-n, --namespace <ns>', 'namespace (default: the kubeconfig context namespace, else "default")');
}

export function allNamespacesOption(command: Command): Command {
  return command.option('-A, --all-namespaces', 'every namespace the caller may list');
}

export function outputOption(command: Command, formats = 'table|json|yaml|name'): Command {
  return command.addOption(new Option('-o, --output <format>', `output format: ${formats}`).argParser(parseOutputFormat));
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Opens the connection, runs the body, records its exit code, closes the connection. */
export async function runCluster<F>(
  host: ClusterHost,
  command: Command,
  body: (run: ClusterRun<F>) => Promise<number>,
  o: ConnectionOptionsOptions = {},
): Promise<void> {
  const flags = command.optsWithGlobals<F & ClusterFlags>();
  const tls = { ...flags, key: o.tlsKeyFlag === false ? undefined : flags.key };
  // Loaded on use: gRPC and the API's protobuf definitions cost a local command ~0.2 s of start-up.
  const { connect } = await import('./connection.js');
  const conn = await connect({ flags: tls, io: host.io, context: host.context, wallNow: host.wallNow, ...(host.signal !== undefined ? { signal: host.signal } : {}) });
  const quiet = flags.quiet === true;
  const run: ClusterRun<F> = {
    conn,
    flags,
    host,
    output: flags.output ?? (flags.json === true ? 'json' : 'table'),
    quiet,
    out: (text) => host.io.stdout.write(text),
    note: (line) => {
      if (!quiet) host.io.stderr.write(`${line}\n`);
    },
    progressDisplay: () => new ProgressDisplay({ io: host.io, mode: displayMode(host.io, quiet), clock: host.clock }),
  };
  try {
    host.setExit(await body(run));
  } finally {
    conn.close();
  }
}

/** Every page of a list call, in the server's order. */
export async function listAll<T>(page: (token: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const all: T[] = [];
  let token = '';
  do {
    const { items, next } = await page(token);
    all.push(...items);
    token = next;
  } while (token !== '');
  return all;
}

/** -n / -A for list calls. */
export function listScope(run: ClusterRun<unknown>): { namespace: string; allNamespaces: boolean } {
  return run.flags.allNamespaces === true ? { namespace: '', allNamespaces: true } : { namespace: run.conn.namespace, allNamespaces: false };
}

export interface Listing<T> {
  /** `backup`, for `-o name` (`backup/b1`) and the empty-list note. */
  readonly kind: string;
  /** Default: kind + "s". */
  readonly plural?: string;
  readonly items: readonly T[];
  readonly name: (item: T) => string;
  readonly table: (items: readonly T[], o: { allNamespaces: boolean; now: Date }) => string;
  readonly scope: { readonly namespace: string; readonly allNamespaces: boolean };
}

export interface PagedListing<T> extends Omit<Listing<T>, 'items' | 'scope'> {
  readonly page: (scope: { namespace: string; allNamespaces: boolean }, pageToken: string) => Promise<{ items: T[]; next: string }>;
}

/** Fetches every page in the -n/-A scope and prints the list. */
export async function listPaged<T>(run: ClusterRun<unknown>, l: PagedListing<T>): Promise<number> {
  const scope = listScope(run);
  const items = await listAll((token) => l.page(scope, token));
  return printList(run, { ...l, items, scope });
}

/** A list in the chosen output; an empty table is a note on stderr, so stdout stays parseable. */
export function printList<T>(run: ClusterRun<unknown>, l: Listing<T>): number {
  if (run.output === 'json' || run.output === 'yaml') run.out(renderItems(l.items, run.output));
  else if (run.output === 'name') run.out(l.items.map((item) => `${l.kind}/${l.name(item)}\n`).join(''));
  else if (l.items.length === 0) run.note(`No ${l.plural ?? `${l.kind}s`} found${l.scope.allNamespaces ? '' : ` in namespace ${l.scope.namespace}`}.`);
  else run.out(l.table(l.items, { allNamespaces: l.scope.allNamespaces, now: run.host.wallNow() }));
  return ExitCode.ok;
}

/** One object in the chosen output; `line` is the human form. */
export function printObject(run: ClusterRun<unknown>, value: unknown, name: string, line: string): void {
  if (run.output === 'json' || run.output === 'yaml') run.out(renderObject(value, run.output));
  else if (run.output === 'name') run.out(`${name}\n`);
  else run.out(`${line}\n`);
}

export interface FollowToEnd<T> {
  readonly what: string;
  readonly cancelHint?: string;
  readonly open: () => ClientReadableStream<T>;
  readonly view: (item: T) => OperationView;
  /** Human lines for how it ended. */
  readonly summary: (item: T) => string[];
}

/** `--wait`: follows to a terminal phase, prints how it ended, returns the exit code for it. */
export async function followToEnd<T>(run: ClusterRun<unknown>, o: FollowToEnd<T>): Promise<number> {
  const display = run.progressDisplay();
  let done: T;
  try {
    done = await followOperation<T>({
      what: o.what,
      ...(o.cancelHint !== undefined ? { cancelHint: o.cancelHint } : {}),
      open: o.open,
      view: o.view,
      display,
      fail: run.conn.fail,
      clock: run.host.clock,
      ...(run.host.signal !== undefined ? { signal: run.host.signal } : {}),
    });
  } finally {
    display.close();
  }
  if (run.output === 'json' || run.output === 'yaml') run.out(renderObject(done, run.output));
  else run.out(o.summary(done).map((l) => `${l}\n`).join(''));
  return exitCodeForPhase(o.view(done).phase);
}
