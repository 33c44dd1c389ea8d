import { join } from 'node:path';
import { ensureBucket, openStore, parseS3Url, type BlobStore, type OpenStoreOptions } from '@ferry/blobstore';
import { Repository, type Credential } from '@ferry/repository';
import { clusterKeyFromEnv, readClusterKeyFile } from './cluster-key.js';
import { CliError } from './exit-codes.js';
import type { CliIO } from './io.js';
import { readPassword } from './password.js';

/** Options every command accepts (before or after the command name). */
export interface GlobalOptions {
  readonly repo?: string;
  readonly passwordFile?: string;
  /** Open with a cluster key (32 bytes or 64 hex chars) instead of a password. */
  readonly clusterKeyFile?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
  readonly verbose?: boolean;
  /** KiB/s over all uploads / downloads. */
  readonly limitUpload?: number;
  readonly limitDownload?: number;
  /** Where tree packs of S3 repositories are cached; `cache: false` (--no-cache) turns it off. */
  readonly cacheDir?: string;
  readonly cache?: boolean;
}

export interface SessionOptions {
  readonly global: GlobalOptions;
  readonly io: CliIO;
  readonly signal?: AbortSignal;
  /** Filled in as soon as it is known, so error messages can name the repository. */
  readonly context: ErrorContext;
}

/** What an error message may mention: the store, never the password. */
export interface ErrorContext {
  repository?: string;
  secrets: string[];
}

export function repositoryLocation(global: GlobalOptions, io: CliIO): string {
  const location = global.repo ?? io.env['FERRY_REPOSITORY'];
  if (location === undefined || location === '') {
    throw new CliError('no repository given: pass --repo DIR|s3:https://host/bucket[/prefix] or set FERRY_REPOSITORY');
  }
  return location;
}

export function openRepositoryStore(options: SessionOptions): BlobStore {
  const store = openStore(repositoryLocation(options.global, options.io), storeOptions(options));
  options.context.repository = store.description;
  return store;
}

function storeOptions(options: SessionOptions): OpenStoreOptions {
  const { global, io } = options;
  const limits = {
    ...(global.limitUpload !== undefined ? { uploadBytesPerSecond: global.limitUpload * 1024 } : {}),
    ...(global.limitDownload !== undefined ? { downloadBytesPerSecond: global.limitDownload * 1024 } : {}),
  };
  const caBundle = io.env['AWS_CA_BUNDLE'];
  return {
    limits,
    ...(caBundle !== undefined && caBundle !== '' ? { s3: { caBundle } } : {}),
  };
}

/** `init` on S3 creates the bucket when it is missing, as restic does. */
export async function ensureRepositoryBucket(options: SessionOptions): Promise<void> {
  const location = repositoryLocation(options.global, options.io);
  if (!location.startsWith('s3:')) return;
  const caBundle = options.io.env['AWS_CA_BUNDLE'];
  await ensureBucket(
    { ...parseS3Url(location), ...(caBundle !== undefined && caBundle !== '' ? { caBundle } : {}) },
    options.signal !== undefined ? { signal: options.signal } : {},
  );
}

/**
 * The credential that opens the repository: --password-file or --cluster-key-file when
 * given (not both), else FERRY_PASSWORD, else FERRY_CLUSTER_KEY, else a TTY prompt.
 */
export async function readCredential(options: SessionOptions, confirm: boolean): Promise<Credential> {
  const { global, io } = options;
  if (global.clusterKeyFile !== undefined && global.passwordFile !== undefined) {
    throw new CliError('give either --password-file or --cluster-key-file, not both');
  }
  const fromEnv = io.env['FERRY_PASSWORD'];
  const clusterKey =
    global.clusterKeyFile !== undefined
      ? await readClusterKeyFile(global.clusterKeyFile)
      : global.passwordFile === undefined && (fromEnv === undefined || fromEnv === '')
        ? clusterKeyFromEnv(io.env)
        : undefined;
  if (clusterKey !== undefined) {
    options.context.secrets.push(clusterKey.toString('hex'));
    return { kind: 'cluster', key: clusterKey };
  }
  const password = await readPassword({
    io: options.io,
    confirm,
    ...(options.global.passwordFile !== undefined ? { passwordFile: options.global.passwordFile } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  options.context.secrets.push(password);
  return { kind: 'password', password };
}

/** Opens the repository for a command; the caller closes it (worker threads). */
export async function openRepository(options: SessionOptions): Promise<Repository> {
  const store = openRepositoryStore(options);
  const credential = await readCredential(options, false);
  const cacheDir = repositoryCacheDir(options);
  return Repository.open({
    store,
    credential,
    ...(cacheDir !== undefined ? { cacheDir } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
}

/**
 * The metadata cache folder: --cache-dir, else FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry or
 * ~/.cache/ferry, and by default only for S3 repositories (a local repository is already on
 * a disk). --no-cache turns it off.
 */
export function repositoryCacheDir(options: SessionOptions): string | undefined {
  const { global, io } = options;
  if (global.cache === false) return undefined;
  const explicit = global.cacheDir ?? nonEmpty(io.env['FERRY_CACHE_DIR']);
  if (explicit !== undefined) return explicit;
  if (!repositoryLocation(global, io).startsWith('s3:')) return undefined;
  const xdg = nonEmpty(io.env['XDG_CACHE_HOME']);
  const home = nonEmpty(io.env['HOME']);
  if (xdg !== undefined) return join(xdg, 'ferry');
  return home !== undefined ? join(home, '.cache', 'ferry') : undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
