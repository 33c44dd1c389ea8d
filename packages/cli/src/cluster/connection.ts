/**
 * The CLI's connection to the coordinator's public gRPC API: where (--server), how the
 * channel is secured (TLS with --ca, mTLS with --cert/--key, or --insecure plaintext) and
 * who the caller is (a client certificate, or a bearer token from --token, FERRY_TOKEN or
 * a kubeconfig). Every call goes through `unary` or `stream`, which attach the token,
 * apply a deadline, honour Ctrl-C and map failures to one-line messages.
 */
import { readFile } from 'node:fs/promises';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  API_PROTO_FILE,
  PROTO_LOADER_OPTIONS,
  type ApiProtoGrpcType,
  type BackupsClient,
  type RepositoriesClient,
  type RestoresClient,
  type SchedulesClient,
  type TransferClient,
} from '@ferry/api';
import { CliError } from '../exit-codes.js';
import type { CliIO } from '../io.js';
import type { ErrorContext } from '../session.js';
import { apiError, type ApiErrorContext } from './api-errors.js';
import { readKubeconfigIdentity } from './kubeconfig.js';

/** The connection flags every cluster command takes. */
export interface ConnectionFlags {
  readonly server?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Same as key (the only spelling where --key means something else). */
  readonly clientKey?: string;
  readonly token?: string;
  readonly kubeconfig?: string;
  readonly insecure?: boolean;
  readonly tlsServerName?: string;
  readonly namespace?: string;
}

export interface ConnectOptions {
  readonly flags: ConnectionFlags;
  readonly io: CliIO;
  /** Secrets seen here (the token) are added for scrubbing from error messages. */
  readonly context: ErrorContext;
  readonly signal?: AbortSignal;
  /** Unary call deadline. Default 30 s. */
  readonly callTimeoutMs?: number;
  /** Wall clock for call deadlines (gRPC deadlines are dates). */
  readonly wallNow: () => Date;
}

type UnaryInvoker<T> = (metadata: Metadata, options: CallOptions, callback: (err: ServiceError | null, value?: T) => void) => ClientUnaryCall;

export interface ClusterConnection {
  readonly server: string;
  /** -n, else the kubeconfig context's namespace, else "default". */
  readonly namespace: string;
  readonly backups: BackupsClient;
  readonly restores: RestoresClient;
  readonly schedules: SchedulesClient;
  readonly repositories: RepositoriesClient;
  readonly transfer: TransferClient;
  unary<T>(invoke: UnaryInvoker<T>): Promise<T>;
  /** Opens a server stream with the caller's metadata; errors on it go through `fail`. */
  stream<T>(open: (metadata: Metadata) => ClientReadableStream<T>): ClientReadableStream<T>;
  /** The CLI's error for a failed call. */
  fail(err: unknown): Error;
  close(): void;
}

let cachedProto: ApiProtoGrpcType | undefined;

function loadApiProto(): ApiProtoGrpcType {
  cachedProto ??= loadPackageDefinition(
    loadSync(API_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] }),
  ) as unknown as ApiProtoGrpcType;
  return cachedProto;
}

export async function connect(options: ConnectOptions): Promise<ClusterConnection> {
  const { flags, io } = options;
  const server = resolveServer(flags, io);
  const identity = await resolveIdentity(flags, io);
  if (identity.token !== undefined) options.context.secrets.push(identity.token);
  const channel = await channelCredentials(flags, io.env);
  if (flags.insecure === true) warnInsecure(io, server, identity.token !== undefined);
  const channelOptions: ChannelOptions = {
    'grpc.primary_user_agent': 'ferry-cli',
    ...(flags.tlsServerName !== undefined ? { 'grpc.ssl_target_name_override': flags.tlsServerName, 'grpc.default_authority': flags.tlsServerName } : {}),
  };
  const v1 = loadApiProto().ferry.v1;
  const clients = {
    backups: new v1.Backups(server, channel, channelOptions),
    restores: new v1.Restores(server, channel, channelOptions),
    schedules: new v1.Schedules(server, channel, channelOptions),
    repositories: new v1.Repositories(server, channel, channelOptions),
    transfer: new v1.Transfer(server, channel, channelOptions),
  };
  const errorContext: ApiErrorContext = { server, auth: identity.token !== undefined ? 'token' : flags.cert !== undefined ? 'certificate' : 'none' };
  const metadata = (): Metadata => {
    const md = new Metadata();
    if (identity.token !== undefined) md.set('authorization', `Bearer ${identity.token}`);
    return md;
  };
  const fail = (err: unknown): Error => apiError(err, errorContext);
  const timeoutMs = options.callTimeoutMs ?? 30_000;
  return {
    server,
    namespace: flags.namespace ?? identity.namespace ?? 'default',
    ...clients,
    fail,
    unary: <T>(invoke: UnaryInvoker<T>) =>
      unaryCall(invoke, { metadata: metadata(), deadline: () => new Date(options.wallNow().getTime() + timeoutMs), fail, ...(options.signal !== undefined ? { signal: options.signal } : {}) }),
    stream: (open) => open(metadata()),
    close: () => {
      for (const client of Object.values(clients)) client.close();
    },
  };
}

function unaryCall<T>(invoke: UnaryInvoker<T>, o: { metadata: Metadata; deadline: () => Date; fail: (err: unknown) => Error; signal?: AbortSignal }): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (o.signal?.aborted === true) return reject(o.fail(Object.assign(new Error('interrupted'), { code: 'Canceled' })));
    const call = invoke(o.metadata, { deadline: o.deadline() }, (err, value) => {
      o.signal?.removeEventListener('abort', onAbort);
      if (err !== null) reject(o.fail(err));
      else if (value === undefined) reject(new Error('the coordinator sent an empty answer'));
      else resolve(value);
    });
    const onAbort = (): void => call.cancel();
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function resolveServer(flags: ConnectionFlags, io: CliIO): string {
  const server = flags.server ?? nonEmpty(io.env['FERRY_SERVER']);
  if (server === undefined || server === '') {
    throw new CliError('no coordinator given: pass --server host:port or set FERRY_SERVER (e.g. kubectl -n ferry-system port-forward svc/ferry-coordinator 9444, then --server localhost:9444)');
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/.test(server)) {
    throw new CliError(`--server "${server}" is not host:port (e.g. ferry.example.com:8443 or 127.0.0.1:8443)`);
  }
  return server;
}

async function resolveIdentity(flags: ConnectionFlags, io: CliIO): Promise<{ token?: string; namespace?: string }> {
  const token = flags.token ?? nonEmpty(io.env['FERRY_TOKEN']);
  if (token !== undefined && flags.kubeconfig !== undefined) throw new CliError('give either a token (--token/FERRY_TOKEN) or --kubeconfig, not both');
  if (token !== undefined) return { token };
  if (flags.kubeconfig !== undefined) return readKubeconfigIdentity(flags.kubeconfig);
  return {};
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

async function channelCredentials(flags: ConnectionFlags, env: CliIO['env']): Promise<ChannelCredentials> {
  const keyFile = flags.clientKey ?? flags.key;
  if ((flags.cert === undefined) !== (keyFile === undefined)) throw new CliError('--cert and --key go together: give both for a client certificate, or neither');
  if (flags.insecure === true) {
    if (flags.ca !== undefined || flags.cert !== undefined) throw new CliError('--insecure is plaintext: it cannot be combined with --ca, --cert or --key');
    return credentials.createInsecure();
  }
  const caFile = flags.ca ?? nonEmpty(env['FERRY_CA']);
  const [ca, key, cert] = await Promise.all([readPem(caFile, '--ca'), readPem(keyFile, '--key'), readPem(flags.cert, '--cert')]);
  return credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
}

async function readPem(file: string | undefined, flag: string): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  return readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${flag} file ${file} (${err.code ?? err.message}): check the path and its permissions`);
  });
}

function warnInsecure(io: CliIO, server: string, sendsToken: boolean): void {
  const token = sendsToken ? '; the bearer token travels unencrypted' : '';
  io.stderr.write(`ferry: warning: --insecure: talking to ${server} without TLS${token}; use it only for local development\n`);
}
