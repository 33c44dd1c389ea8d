/**
 * How an operation's log is kept at its BackupLocation: one gzip-compressed JSON-lines
 * object per operation, `ferry_logs/<backup|restore>/<namespace>/<name>/<uid>.jsonl.gz`
 * under the location's root (beside the repositories, never inside one). The underscore
 * keeps the prefix clear of every repository: a repository's path is its namespace, and
 * no namespace name contains `_`. The uid in the key tells a deleted and recreated
 * operation's log from the new one's.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { CoordinatorError } from '../errors.js';
import type { OperationKind, OperationLogLine } from './book.js';

export const LOG_PREFIX = 'ferry_logs/';

/** Stored logs are at most this large once unpacked; a bigger object is refused as damaged. */
const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;

export interface OperationId {
  readonly kind: OperationKind;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export function logKey(op: OperationId): string {
  return `${LOG_PREFIX}${op.kind.toLowerCase()}/${op.namespace}/${op.name}/${op.uid}.jsonl.gz`;
}

/** The operation a stored key names, or undefined for a key that is not a log's. */
export function parseLogKey(key: string): OperationId | undefined {
  const m = /^ferry_logs\/(backup|restore)\/([^/]+)\/([^/]+)\/([^/]+)\.jsonl\.gz$/.exec(key);
  if (!m) return undefined;
  return { kind: m[1] === 'backup' ? 'Backup' : 'Restore', namespace: m[2]!, name: m[3]!, uid: m[4]! };
}

export function encodeLog(lines: readonly OperationLogLine[]): Buffer {
  return gzipSync(Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), 'utf8'));
}

export function decodeLog(data: Buffer, what: string): OperationLogLine[] {
  let text: string;
  try {
    text = gunzipSync(data, { maxOutputLength: MAX_UNPACKED_BYTES }).toString('utf8');
  } catch (err) {
    throw new CoordinatorError('Internal', `the stored log of ${what} is damaged (${(err as { code?: string }).code ?? 'not gzip'}); delete the object and it is not served again`);
  }
  const lines: OperationLogLine[] = [];
  for (const row of text.split('\n')) {
    if (!row) continue;
    const l = JSON.parse(row) as Partial<OperationLogLine>;
    lines.push({ time: String(l.time ?? ''), level: l.level === 'warn' || l.level === 'error' ? l.level : 'info', source: String(l.source ?? ''), msg: String(l.msg ?? ''), ...(l.volume ? { volume: String(l.volume) } : {}), ...(l.code ? { code: String(l.code) } : {}) });
  }
  return lines;
}
