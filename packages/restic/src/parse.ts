import type { CheckProblem, FileError, ForgetDecision, RetentionPolicy, SnapshotSummary } from '@ferry/mover';
import { MoverError } from '@ferry/mover';
import { identityFromSnapshot, userTags } from './identity.js';
import { isRecord, parseJsonDocument, parseJsonLine, stringField } from './json-lines.js';

/** `restic snapshots --json` (or one element of `forget --json`'s keep/remove lists). */
export function parseSnapshot(value: unknown): SnapshotSummary | undefined {
  if (!isRecord(value)) return undefined;
  const id = stringField(value, 'id');
  const time = stringField(value, 'time');
  if (id === undefined || time === undefined) return undefined;
  const hostname = stringField(value, 'hostname') ?? '';
  const paths = stringArray(value['paths']);
  const tags = stringArray(value['tags']);
  const parentId = stringField(value, 'parent');
  return {
    id,
    time: new Date(time),
    identity: identityFromSnapshot(hostname, paths, tags),
    tags: userTags(tags),
    ...(parentId !== undefined ? { parentId } : {}),
    hostname,
    paths,
  };
}

export function parseSnapshotList(stdout: string): SnapshotSummary[] {
  const doc = parseJsonDocument(stdout);
  if (!Array.isArray(doc)) throw new MoverError('Internal', 'restic snapshots --json printed no JSON list; is the binary really restic?');
  const list = doc.map(parseSnapshot).filter((s): s is SnapshotSummary => s !== undefined);
  return list.sort((a, b) => a.time.getTime() - b.time.getTime());
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function retentionFlags(policy: RetentionPolicy): string[] {
  const flags: string[] = [];
  const count = (flag: string, n: number | undefined): void => {
    if (n === undefined) return;
    if (!Number.isInteger(n) || n < 1) throw new MoverError('InvalidArgument', `retention ${flag} must be a positive integer, got ${n}`);
    flags.push(flag, String(n));
  };
  count('--keep-last', policy.keepLast);
  count('--keep-hourly', policy.keepHourly);
  count('--keep-daily', policy.keepDaily);
  count('--keep-weekly', policy.keepWeekly);
  count('--keep-monthly', policy.keepMonthly);
  count('--keep-yearly', policy.keepYearly);
  if (policy.keepWithin !== undefined) {
    if (!/^(\d+[ymdh])+$/.test(policy.keepWithin)) throw new MoverError('InvalidArgument', `retention keepWithin "${policy.keepWithin}" is not a duration like 30d or 2y5m7d3h`);
    flags.push('--keep-within', policy.keepWithin);
  }
  for (const tag of policy.keepTags ?? []) flags.push('--keep-tag', tag);
  if (flags.length === 0) throw new MoverError('InvalidArgument', 'the retention policy keeps nothing explicitly; set at least one keep rule (forgetting everything is not a retention policy)');
  return flags;
}

/** `restic forget --json`: a list of groups with keep, remove and the reasons for keeping. */
export function parseForget(stdout: string): ForgetDecision[] {
  const doc = parseJsonDocument(stdout);
  if (!Array.isArray(doc)) return [];
  return doc.filter(isRecord).flatMap(groupDecisions);
}

function groupDecisions(group: Record<string, unknown>): ForgetDecision[] {
  const keep = listOf(group['keep']);
  const reasons = listOf(group['reasons']);
  const kept = keep.flatMap((raw, i) => {
    const snapshot = parseSnapshot(raw);
    const reason = reasons[i];
    const matches = isRecord(reason) ? stringArray(reason['matches']) : [];
    return snapshot ? [{ snapshot, keep: true, reasons: matches }] : [];
  });
  const removed = listOf(group['remove']).flatMap((raw) => {
    const snapshot = parseSnapshot(raw);
    return snapshot ? [{ snapshot, keep: false, reasons: ['matched by no keep rule'] }] : [];
  });
  return [...kept, ...removed];
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

const UNITS: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, PiB: 2 ** 50 };

export function parseSize(text: string): number | undefined {
  const match = /([\d.]+)\s*(B|KiB|MiB|GiB|TiB|PiB)\b/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (UNITS[match[2] ?? 'B'] ?? 1));
}

export function parsePrune(output: string): { bytesFreed: number; packsDeleted: number } {
  const total = /total prune:\s+\d+ blobs \/ (.+)$/m.exec(output);
  const packs = /(?:removing|would remove) (\d+) old packs/.exec(output);
  return { bytesFreed: total?.[1] ? (parseSize(total[1]) ?? 0) : 0, packsDeleted: packs ? Number(packs[1]) : 0 };
}

const CHECK_NOISE = [
  /^using temporary cache/, /^create exclusive lock/, /^load indexes/, /^check all packs/, /^check snapshots, trees and blobs/,
  /^\[\d+:\d+\]/, /^read (all|[\d.]+%|\d+\/\d+)/, /^no errors were found/, /^Fatal: repository contains errors/,
  /^created new cache/, /^read group/, /^will read/, /^check \d+ pack/, /^counting/, /^\s*$/,
];

/** Lines of `restic check` output that report a problem (everything that is not progress). */
export function parseCheckProblems(output: string): CheckProblem[] {
  return output
    .split('\n')
    .map((line) => line.replace(/\r/g, '').trim())
    .filter((line) => !CHECK_NOISE.some((re) => re.test(line)) && parseJsonLine(line) === undefined)
    .map((message) => {
      const object = /\b([0-9a-f]{8,64})\b/.exec(message)?.[1];
      return object ? { message, object } : { message };
    });
}

/** `ignoring error for /path: message` lines of `restic restore` (0.14 has no JSON for restore). */
export function parseRestoreErrors(stderr: string): FileError[] {
  const errors: FileError[] = [];
  for (const line of stderr.split('\n')) {
    const match = /^ignoring error for (.+?): (.+)$/.exec(line.trim());
    if (match?.[1] && match[2]) errors.push({ path: match[1], message: match[2] });
  }
  return errors;
}

/** `restic stats --mode raw-data --json`: stored size of the referenced blobs and the snapshot count. */
export function parseStats(stdout: string): { sizeBytes: number; snapshotCount: number } | undefined {
  const doc = parseJsonDocument(stdout);
  if (!isRecord(doc)) return undefined;
  const size = doc['total_size'];
  const count = doc['snapshots_count'];
  if (typeof size !== 'number' || typeof count !== 'number') return undefined;
  return { sizeBytes: size, snapshotCount: count };
}
