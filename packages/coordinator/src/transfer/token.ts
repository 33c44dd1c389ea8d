/**
 * The transfer token (docs/export-import.md): base64url of one JSON object, version 1, that
 * tells another cluster where a repository is, what it holds and (as asked) its key. It never
 * carries credentials for the location. Parsing checks every field and says which one is wrong
 * without echoing the token, which may hold a plain key.
 */
import { CoordinatorError } from '../errors.js';

export const TOKEN_VERSION = 1;
/** Far above any real token (a few KiB per 100 volumes); stops a pasted file early. */
export const MAX_TOKEN_CHARS = 4 << 20;

export type TokenLocation =
  | {
      readonly kind: 's3';
      /** `s3:<endpoint>/<bucket>[/<prefix>]`: the location's root, no credentials. */
      readonly url: string;
      readonly bucket: string;
      readonly endpoint: string;
      readonly region?: string;
      readonly prefix?: string;
      readonly forcePathStyle?: boolean;
    }
  | { readonly kind: 'filesystem'; readonly url: string; readonly path: string };

export interface TokenRepository {
  /** The repository's path under the location (default: its namespace). */
  readonly path: string;
  /** The namespace whose volumes the repository holds on the exporting cluster. */
  readonly namespace: string;
  readonly mover: 'native';
  /** 32 hex: the id in the repository's config; the importer checks it. */
  readonly repositoryId: string;
}

export interface TokenVolume {
  readonly pod: { readonly name: string; readonly uid: string; readonly controller?: { readonly kind: string; readonly name: string } };
  readonly node: string;
  readonly volume: { readonly name: string; readonly kind: string; readonly pvc?: { readonly name: string; readonly uid: string }; readonly pvName?: string };
  readonly snapshotId: string;
  readonly phase: 'Completed' | 'PartiallyFailed';
  readonly completionTimestamp?: string;
}

export interface TokenBackup {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly phase: 'Completed' | 'PartiallyFailed';
  readonly completionTimestamp?: string;
  readonly volumes: readonly TokenVolume[];
}

/** How the key travels: inside the repository engine's own key token (keys-admin.ts), or not at all. */
export type TokenKey =
  | { readonly mode: 'password'; readonly keyToken: string }
  | { readonly mode: 'plain'; readonly keyToken: string }
  | { readonly mode: 'none' };

export type KeyMode = TokenKey['mode'];

export interface TransferToken {
  readonly v: 1;
  readonly kind: 'backup' | 'key';
  readonly location: TokenLocation;
  readonly repository: TokenRepository;
  /** Present exactly when kind is 'backup'. */
  readonly backup?: TokenBackup;
  readonly key: TokenKey;
}

export function encodeToken(token: TransferToken): string {
  return Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

const invalid = (what: string): CoordinatorError =>
  new CoordinatorError('InvalidArgument', `the transfer token is invalid: ${what}; paste the whole token printed by ExportBackup/ExportKey ("ferry backup export")`);

/** Decodes and validates a token; every failure is InvalidArgument naming the field, never its value. */
export function parseToken(text: string): TransferToken {
  const trimmed = text.trim();
  if (trimmed === '') throw invalid('it is empty');
  if (trimmed.length > MAX_TOKEN_CHARS) throw invalid(`it is longer than ${MAX_TOKEN_CHARS} characters`);
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) throw invalid('it is not base64url text');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(trimmed, 'base64url').toString('utf8'));
  } catch {
    // The parser's message quotes the input, which may hold a plain key: say only what failed.
    throw invalid('it does not decode to JSON');
  }
  return readToken(new Field(raw, 'token'));
}

function readToken(t: Field): TransferToken {
  const v = t.get('v').value;
  if (typeof v !== 'number') throw invalid('field v (the format version) is missing');
  if (v > TOKEN_VERSION) throw new CoordinatorError('InvalidArgument', `the transfer token has format version ${v}, newer than this coordinator reads (${TOKEN_VERSION}); upgrade Ferry on this cluster`);
  if (v !== TOKEN_VERSION) throw invalid(`field v must be ${TOKEN_VERSION}`);
  const kind = t.get('kind').oneOf(['backup', 'key'] as const);
  const location = readLocation(t.get('location'));
  const repository = readRepository(t.get('repository'));
  const key = readKey(t.get('key'));
  const backupField = t.get('backup');
  if (kind === 'key') {
    if (backupField.value !== undefined) throw invalid('a key token has no field backup');
    return { v: 1, kind, location, repository, key };
  }
  return { v: 1, kind, location, repository, backup: readBackup(backupField), key };
}

function readLocation(f: Field): TokenLocation {
  const kind = f.get('kind').oneOf(['s3', 'filesystem'] as const);
  const url = f.get('url').string({ max: 4096 });
  if (/[\s@?#]/.test(url)) throw invalid(`${f.path}.url must be a plain URL without credentials or query`);
  if (kind === 'filesystem') {
    const path = f.get('path').string({ pattern: /^\//, expected: 'an absolute path', max: 4096 });
    return { kind, url, path };
  }
  const bucket = f.get('bucket').string({ pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, expected: 'an S3 bucket name' });
  const endpoint = f.get('endpoint').string({ pattern: /^https?:\/\/[^\s/@?#]+$/, expected: 'http(s)://host[:port] without credentials or path' });
  const region = f.get('region').optionalString({ max: 64 });
  const prefix = f.get('prefix').optionalString({ pattern: /^[^/](.*[^/])?$/, expected: 'a key prefix without leading or trailing /', max: 512 });
  const forcePathStyle = f.get('forcePathStyle').optionalBoolean();
  return { kind, url, bucket, endpoint, ...(region !== undefined ? { region } : {}), ...(prefix !== undefined ? { prefix } : {}), ...(forcePathStyle !== undefined ? { forcePathStyle } : {}) };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function readRepository(f: Field): TokenRepository {
  const path = f.get('path').string({ pattern: /^[^/]/, expected: 'a relative path', max: 1024 });
  if (path.split('/').includes('..')) throw invalid(`${f.path}.path must not contain ..`);
  const namespace = f.get('namespace').string({ pattern: DNS_LABEL, expected: 'a namespace name', max: 63 });
  const mover = f.get('mover').oneOf(['native'] as const);
  const repositoryId = f.get('repositoryId').string({ pattern: /^[0-9a-f]{32}$/, expected: '32 hex digits' });
  return { path, namespace, mover, repositoryId };
}

function readKey(f: Field): TokenKey {
  const mode = f.get('mode').oneOf(['password', 'plain', 'none'] as const);
  if (mode === 'none') return { mode };
  return { mode, keyToken: f.get('keyToken').string({ pattern: /^[A-Za-z0-9_-]+$/, expected: 'base64url text', max: 16384 }) };
}

const PHASES = ['Completed', 'PartiallyFailed'] as const;

function readBackup(f: Field): TokenBackup {
  const volumes = f.get('volumes').array().map(readVolume);
  if (volumes.length === 0) throw invalid(`${f.path}.volumes is empty`);
  const completionTimestamp = f.get('completionTimestamp').optionalString({ pattern: TIME, expected: 'an RFC 3339 time' });
  return {
    namespace: f.get('namespace').string({ pattern: DNS_LABEL, expected: 'a namespace name', max: 63 }),
    name: f.get('name').string({ pattern: OBJECT_NAME, expected: 'an object name', max: 253 }),
    uid: f.get('uid').string({ max: 128 }),
    phase: f.get('phase').oneOf(PHASES),
    ...(completionTimestamp !== undefined ? { completionTimestamp } : {}),
    volumes,
  };
}

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function readVolume(f: Field): TokenVolume {
  const pod = f.get('pod');
  const controller = pod.get('controller');
  const volume = f.get('volume');
  const pvc = volume.get('pvc');
  const pvName = volume.get('pvName').optionalString({ pattern: OBJECT_NAME, expected: 'an object name', max: 253 });
  const completionTimestamp = f.get('completionTimestamp').optionalString({ pattern: TIME, expected: 'an RFC 3339 time' });
  return {
    pod: {
      name: pod.get('name').string({ pattern: OBJECT_NAME, expected: 'a pod name', max: 253 }),
      uid: pod.get('uid').string({ max: 128 }),
      ...(controller.value !== undefined ? { controller: { kind: controller.get('kind').string({ max: 63 }), name: controller.get('name').string({ pattern: OBJECT_NAME, expected: 'an object name', max: 253 }) } } : {}),
    },
    node: f.get('node').string({ max: 253, allowEmpty: true }),
    volume: {
      name: volume.get('name').string({ pattern: DNS_LABEL, expected: 'a volume name', max: 63 }),
      kind: volume.get('kind').string({ max: 64 }),
      ...(pvc.value !== undefined ? { pvc: { name: pvc.get('name').string({ pattern: OBJECT_NAME, expected: 'a claim name', max: 253 }), uid: pvc.get('uid').string({ max: 128, allowEmpty: true }) } } : {}),
      ...(pvName !== undefined ? { pvName } : {}),
    },
    snapshotId: f.get('snapshotId').string({ pattern: /^[0-9a-f]{64}$/, expected: '64 hex digits' }),
    phase: f.get('phase').oneOf(PHASES),
    ...(completionTimestamp !== undefined ? { completionTimestamp } : {}),
  };
}

interface StringRule {
  readonly pattern?: RegExp;
  readonly expected?: string;
  readonly max?: number;
  readonly allowEmpty?: boolean;
}

/** One JSON value and its path in the token (`token.backup.volumes[2].snapshotId`), for errors. */
class Field {
  constructor(
    readonly value: unknown,
    readonly path: string,
  ) {}

  get(name: string): Field {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value)) throw invalid(`${this.path} must be an object`);
    return new Field((this.value as Record<string, unknown>)[name], `${this.path}.${name}`);
  }

  array(): Field[] {
    if (!Array.isArray(this.value)) throw invalid(`${this.path} must be a list`);
    return this.value.map((v, i) => new Field(v, `${this.path}[${i}]`));
  }

  string(rule: StringRule = {}): string {
    const v = this.value;
    if (typeof v !== 'string') throw invalid(`${this.path} ${v === undefined ? 'is missing' : 'must be a string'}`);
    if (v === '' && !rule.allowEmpty) throw invalid(`${this.path} is empty`);
    if (rule.max !== undefined && v.length > rule.max) throw invalid(`${this.path} is longer than ${rule.max} characters`);
    if (v !== '' && rule.pattern && !rule.pattern.test(v)) throw invalid(`${this.path} must be ${rule.expected ?? 'well-formed'}`);
    return v;
  }

  optionalString(rule: StringRule = {}): string | undefined {
    return this.value === undefined ? undefined : this.string(rule);
  }

  optionalBoolean(): boolean | undefined {
    if (this.value === undefined) return undefined;
    if (typeof this.value !== 'boolean') throw invalid(`${this.path} must be true or false`);
    return this.value;
  }

  oneOf<T extends string>(allowed: readonly T[]): T {
    const v = this.value;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    throw invalid(`${this.path} ${v === undefined ? 'is missing' : 'must be one of'} ${v === undefined ? `(one of ${allowed.join(', ')})` : allowed.join(', ')}`);
  }
}
