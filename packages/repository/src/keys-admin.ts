/**
 * Key slots management and export tokens (docs/repository-format.md §2): any number of
 * slots wrap the one master key; a token carries the master key to another cluster,
 * wrapped for a password (or, only when forced, in the clear).
 */
import { randomBytes } from 'node:crypto';
import { getIfExists, type BlobStore } from '@ferry/blobstore';
import type { Credential } from './api.js';
import { parseConfig, verifyConfig } from './config.js';
import { deriveSubkeys } from './crypto.js';
import { RepositoryError } from './errors.js';
import { createKeySlot, parseKeySlot, unwrapKeySlot, type KeySlot } from './keys.js';
import type { Keyring } from './repository.js';

const PREFIX = 'keys/';

export interface KeyAdminTarget {
  readonly store: BlobStore;
  readonly clock: { now(): number };
  readonly secrets: Keyring;
}

export interface KeyInfo {
  readonly id: string;
  readonly kind: KeySlot['kind'];
  readonly label: string;
  readonly created: string;
  readonly host: string;
  readonly user: string;
  /** The slot this session opened the repository with. */
  readonly current: boolean;
}

export async function listKeys(repo: KeyAdminTarget): Promise<KeyInfo[]> {
  const out: KeyInfo[] = [];
  for await (const entry of repo.store.list(PREFIX)) {
    const text = await getIfExists(repo.store, entry.key);
    if (!text) continue;
    const slot = parseKeySlot(text, entry.key);
    const { kind, label, created, host, user } = slot;
    out.push({ id: entry.key.slice(PREFIX.length), kind, label, created, host, user, current: entry.key === repo.secrets.slotKey });
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

export async function addKey(repo: KeyAdminTarget, credential: Credential, options: { label?: string; scryptN?: number } = {}): Promise<KeyInfo> {
  const { master, repositoryId } = repo.secrets;
  const slot = await createKeySlot({ credential, master, repositoryId, label: options.label, scryptN: options.scryptN, now: new Date(repo.clock.now()) });
  const id = randomBytes(16).toString('hex');
  await repo.store.put(PREFIX + id, Buffer.from(JSON.stringify(slot, null, 2) + '\n'), { ifNotExists: true });
  return { id, kind: slot.kind, label: slot.label, created: slot.created, host: slot.host, user: slot.user, current: false };
}

/** Removes a slot; refuses the last one and the one in use (change it with passwd instead). */
export async function removeKey(repo: KeyAdminTarget, id: string): Promise<void> {
  const keys = await listKeys(repo);
  const target = keys.find((k) => k.id === id || (id.length >= 4 && k.id.startsWith(id)));
  if (!target) throw new RepositoryError('InvalidArgument', `no key slot ${id}; "ferry key list" shows the slots`);
  if (keys.length === 1) throw new RepositoryError('InvalidArgument', 'refusing to remove the last key slot: the repository could never be opened again');
  if (target.current) throw new RepositoryError('InvalidArgument', `refusing to remove key slot ${target.id}, which opened this session; use "ferry key passwd" or open with another key`);
  await repo.store.delete(PREFIX + target.id);
}

/** Replaces the slot in use with one for `credential` (new slot first, so a crash loses nothing). */
export async function changeKey(repo: KeyAdminTarget, credential: Credential, options: { label?: string; scryptN?: number } = {}): Promise<KeyInfo> {
  const added = await addKey(repo, credential, options);
  await repo.store.delete(repo.secrets.slotKey);
  return added;
}

/** What a token carries: where the repository is and its master key, wrapped or plain. */
interface TokenBody {
  readonly v: 1;
  readonly kind: 'ferry-key-export';
  readonly location: string;
  readonly repositoryId: string;
  readonly slot?: KeySlot;
  readonly key?: string;
}

export interface ExportOptions {
  /** Where the repository lives, as the importing side should reach it (no credentials). */
  readonly location: string;
  /** Wrap the key for this password (the default way). */
  readonly password?: string;
  /** Put the master key in the token in the clear; refused unless `force`. */
  readonly includeKey?: boolean;
  readonly force?: boolean;
  readonly scryptN?: number;
}

export async function exportKey(repo: KeyAdminTarget, options: ExportOptions): Promise<string> {
  const { master, repositoryId } = repo.secrets;
  const base = { v: 1 as const, kind: 'ferry-key-export' as const, location: options.location, repositoryId: repositoryId.toString('hex') };
  let body: TokenBody;
  if (options.includeKey) {
    if (!options.force) throw new RepositoryError('InvalidArgument', 'refusing to put the master key in a token in the clear without --force; give a password to wrap it instead');
    body = { ...base, key: master.toString('base64') };
  } else {
    if (!options.password) throw new RepositoryError('InvalidArgument', 'a password to wrap the exported key is required');
    const credential: Credential = { kind: 'password', password: options.password };
    body = { ...base, slot: await createKeySlot({ credential, master, repositoryId, label: 'export', scryptN: options.scryptN, now: new Date(repo.clock.now()) }) };
  }
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function describeToken(token: string): { location: string; repositoryId: string; wrapped: boolean } {
  const body = parseToken(token);
  return { location: body.location, repositoryId: body.repositoryId, wrapped: body.slot !== undefined };
}

function parseToken(token: string): TokenBody {
  try {
    const body = JSON.parse(Buffer.from(token.trim(), 'base64url').toString('utf8')) as TokenBody;
    if (body.v === 1 && body.kind === 'ferry-key-export' && /^[0-9a-f]{32}$/.test(body.repositoryId)) return body;
  } catch {
    // fall through to the one error below
  }
  throw new RepositoryError('InvalidArgument', 'not a Ferry key token (expected the base64url text printed by "ferry key export")');
}

export interface ImportOptions {
  readonly store: BlobStore;
  readonly token: string;
  /** The password the token's key was wrapped with (not needed for a plain token). */
  readonly tokenPassword?: string;
  /** The credential this side will open the repository with from now on. */
  readonly credential: Credential;
  readonly label?: string;
  readonly scryptN?: number;
  readonly clock?: { now(): number };
}

/** Adds a slot for `credential` to the repository the token names; returns the repository id. */
export async function importKey(options: ImportOptions): Promise<{ repositoryId: string; slotId: string }> {
  const body = parseToken(options.token);
  const repositoryId = Buffer.from(body.repositoryId, 'hex');
  const master = await tokenMaster(body, repositoryId, options.tokenPassword);
  const where = options.store.description;
  const { config, mac } = parseConfig(await options.store.get('config'), where);
  if (config.id !== body.repositoryId) throw new RepositoryError('InvalidArgument', `the token is for repository ${body.repositoryId}, but ${where} holds repository ${config.id}`);
  verifyConfig(config, mac, deriveSubkeys(master, repositoryId).config, where);
  const now = options.clock?.now() ?? Date.now();
  const target: KeyAdminTarget = { store: options.store, clock: { now: () => now }, secrets: { master, repositoryId, slotKey: '' } };
  const added = await addKey(target, options.credential, { label: options.label ?? 'imported', scryptN: options.scryptN });
  return { repositoryId: body.repositoryId, slotId: added.id };
}

async function tokenMaster(body: TokenBody, repositoryId: Buffer, password: string | undefined): Promise<Buffer> {
  if (body.key) return Buffer.from(body.key, 'base64');
  if (!body.slot) throw new RepositoryError('InvalidArgument', 'the token carries no key');
  if (!password) throw new RepositoryError('InvalidArgument', 'the token is protected by a password; give it to import the key');
  const master = await unwrapKeySlot(body.slot, { kind: 'password', password }, repositoryId);
  if (!master) throw new RepositoryError('WrongPassword', 'wrong password for the key token');
  return master;
}
