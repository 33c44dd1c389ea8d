/**
 * The repository key in a transfer token, through the engine's own key token
 * (@ferry/repository keys-admin: exportKey/importKey/describeToken): wrapped for a password
 * (scrypt + AES-GCM), plain only when forced, or left out. On import the key is not stored on
 * this cluster: a cluster-key slot for THIS cluster's key is added to the repository (one small
 * object in the shared store), so agents open it exactly like a repository made here
 * (docs/export-import.md, "Why a key slot"). Key material never reaches a message or a log.
 */
import type { BlobStore } from '@ferry/blobstore';
import { describeToken, exportKey, importKey, isRepositoryError, Repository } from '@ferry/repository';
import type { Clock } from '../clock.js';
import { CoordinatorError, messageOf } from '../errors.js';
import type { KeyMode, TokenKey } from './token.js';

/** Shorter passwords make a token that leaks open to offline guessing in hours. */
export const MIN_PASSWORD_LENGTH = 12;

export interface KeyRequest {
  readonly mode: KeyMode | undefined;
  readonly password?: string;
  readonly force?: boolean;
  /** What the key opens, for messages: `BackupRepository ferry-system/rgw-shop`. */
  readonly what: string;
}

/** Refuses a key request that cannot be honoured, before any repository is touched. */
export function checkKeyRequest(r: KeyRequest): KeyMode {
  const password = r.password ?? '';
  switch (r.mode) {
    case undefined:
      throw new CoordinatorError('InvalidArgument', 'choose how the key travels: KEY_EXPORT_PASSWORD (with a password), KEY_EXPORT_NONE (the importing cluster already holds the key) or KEY_EXPORT_PLAIN (with force)');
    case 'password':
      if (password.length < MIN_PASSWORD_LENGTH) throw new CoordinatorError('InvalidArgument', `a password of at least ${MIN_PASSWORD_LENGTH} characters is required to wrap the key of ${r.what} (KEY_EXPORT_PASSWORD)`);
      return 'password';
    case 'plain':
      if (password) throw new CoordinatorError('InvalidArgument', 'KEY_EXPORT_PLAIN does not use a password; use KEY_EXPORT_PASSWORD to wrap the key');
      if (!r.force) throw new CoordinatorError('FailedPrecondition', `refusing to put the key of ${r.what} in the token in plain: anyone who reads the token can decrypt every snapshot in that repository; set force if the token itself is protected, or use KEY_EXPORT_PASSWORD`);
      return 'plain';
    case 'none':
      if (password) throw new CoordinatorError('InvalidArgument', 'KEY_EXPORT_NONE carries no key, so a password has no use; leave it out or use KEY_EXPORT_PASSWORD');
      return 'none';
  }
}

export interface OpenOptions {
  readonly store: BlobStore;
  readonly clusterKey: Buffer;
  readonly clock: Clock;
  readonly what: string;
}

/** Opens a native repository with this cluster's key; a key that does not open it is FailedPrecondition. */
export async function openWithClusterKey(o: OpenOptions): Promise<Repository> {
  try {
    // One worker: the coordinator only reads keys and config here, and its CPU is shared.
    return await Repository.open({ store: o.store, credential: { kind: 'cluster', key: o.clusterKey }, workers: 1, clock: o.clock });
  } catch (err) {
    if (isRepositoryError(err, 'WrongPassword')) throw new CoordinatorError('FailedPrecondition', `this cluster's key does not open ${o.what}: none of its key slots is for this cluster; import the key with a token first (ImportKey, or ImportBackup with a key)`, { cause: err });
    throw repositoryFailure(err, o.what);
  }
}

export interface SealOptions {
  readonly repository: Repository;
  readonly mode: KeyMode;
  readonly password?: string;
  /** The repository as the importer should reach it: the location URL, no credentials. */
  readonly url: string;
  readonly clock: Clock;
  readonly scryptN?: number;
}

export async function sealKey(o: SealOptions): Promise<TokenKey> {
  if (o.mode === 'none') return { mode: 'none' };
  const target = { store: o.repository.store, clock: o.clock, secrets: o.repository.secrets };
  const keyToken = o.mode === 'plain'
    ? await exportKey(target, { location: o.url, includeKey: true, force: true })
    : await exportKey(target, { location: o.url, password: o.password ?? '', ...(o.scryptN ? { scryptN: o.scryptN } : {}) });
  return { mode: o.mode, keyToken };
}

/** The embedded engine token must be for the token's repository and wrapped as its mode says. */
export function checkKeyToken(key: TokenKey, repositoryId: string): void {
  if (key.mode === 'none') return;
  let described: ReturnType<typeof describeToken>;
  try {
    described = describeToken(key.keyToken);
  } catch {
    throw new CoordinatorError('InvalidArgument', 'the transfer token is invalid: token.key.keyToken is not a Ferry key token');
  }
  if (described.repositoryId !== repositoryId) throw new CoordinatorError('InvalidArgument', `the transfer token is invalid: its key is for repository ${described.repositoryId}, not ${repositoryId}`);
  if (described.wrapped !== (key.mode === 'password')) throw new CoordinatorError('InvalidArgument', `the transfer token is invalid: token.key.mode is ${key.mode} but the key inside is ${described.wrapped ? 'wrapped' : 'plain'}`);
}

export interface AdmitOptions {
  readonly store: BlobStore;
  readonly key: TokenKey;
  readonly password?: string;
  readonly clusterKey: Buffer;
  readonly repositoryId: string;
  readonly what: string;
  readonly clock: Clock;
}

/**
 * Makes the repository open with this cluster's key: nothing to do when it already does (a
 * repeated import, or KEY_EXPORT_NONE after ImportKey), else a cluster-key slot is added from
 * the token's key. Returns which happened.
 */
export async function admitKey(o: AdmitOptions): Promise<'present' | 'added'> {
  const present = await opensAlready(o);
  if (present) return 'present';
  if (o.key.mode === 'none') throw new CoordinatorError('FailedPrecondition', `the token carries no key and this cluster's key does not open ${o.what}; import the key first (ExportKey on the exporting cluster, ImportKey here) or export the backup with KEY_EXPORT_PASSWORD`);
  if (o.key.mode === 'password' && !o.password) throw new CoordinatorError('InvalidArgument', `the transfer token's key for ${o.what} is wrapped for a password; give the password it was exported with`);
  try {
    await importKey({ store: o.store, token: o.key.keyToken, ...(o.password ? { tokenPassword: o.password } : {}), credential: { kind: 'cluster', key: o.clusterKey }, label: 'imported cluster key', clock: o.clock });
  } catch (err) {
    if (isRepositoryError(err, 'WrongPassword')) throw new CoordinatorError('InvalidArgument', `wrong password for the transfer token of ${o.what} (repository ${o.repositoryId}): it does not unwrap the key inside; give the password the token was exported with`, { cause: err });
    throw repositoryFailure(err, o.what);
  }
  return 'added';
}

async function opensAlready(o: AdmitOptions): Promise<boolean> {
  let repo: Repository;
  try {
    repo = await openWithClusterKey(o);
  } catch (err) {
    if (err instanceof CoordinatorError && err.code === 'FailedPrecondition' && isRepositoryError(err.cause, 'WrongPassword')) return false;
    throw err;
  }
  try {
    const id = repo.secrets.repositoryId.toString('hex');
    if (id !== o.repositoryId) throw new CoordinatorError('FailedPrecondition', `${o.what} holds repository ${id}, but the token is for repository ${o.repositoryId}; check the location's prefix and the repository path`);
    return true;
  } finally {
    await repo.close();
  }
}

/** An engine or store failure as the API reports it, naming the repository. */
export function repositoryFailure(err: unknown, what: string): CoordinatorError {
  if (err instanceof CoordinatorError) return err;
  const message = messageOf(err);
  if (isRepositoryError(err, 'RepositoryNotFound')) return new CoordinatorError('FailedPrecondition', `there is no Ferry repository at ${what}; check the location (bucket, prefix) and the repository path`, { cause: err });
  if (isRepositoryError(err, 'InvalidArgument')) return new CoordinatorError('FailedPrecondition', `${what}: ${message}`, { cause: err });
  if (isRepositoryError(err, 'Store')) return new CoordinatorError('Unavailable', `cannot reach ${what}: ${message}; check the location and its credentials Secret`, { cause: err });
  if (isRepositoryError(err)) return new CoordinatorError('FailedPrecondition', `${what}: ${message}`, { cause: err });
  return new CoordinatorError('Unavailable', `cannot reach ${what}: ${message}`, { cause: err });
}
