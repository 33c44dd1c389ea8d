/**
 * Retention ("forget" policy), compatible with restic's `forget --keep-*` rules
 * (restic internal/restic/snapshot_policy.go), as a pure function: snapshots and a policy
 * in, one keep/remove decision with reasons per snapshot out. Deleting is the caller's job.
 *
 * Semantics, per identity group, snapshots newest first:
 * - keep-last N keeps the N newest.
 * - keep-hourly/daily/weekly/monthly/yearly N walk the snapshots newest first and keep
 *   each one whose bucket differs from the previous kept bucket of that rule, until N
 *   buckets are used; -1 means no limit. Buckets are calendar units in `timeZone`
 *   (ISO 8601 weeks, Monday first, week-numbering year).
 * - As in restic (since 0.16), a bucket rule that still has counts left when it reaches
 *   the oldest snapshot of the group keeps that one too, with the rule's reason: this
 *   keeps the longest history while the rule is not yet "full".
 * - keep-within D keeps snapshots strictly newer than (reference − D), where reference is
 *   the newest snapshot of the group that is not after `now` (restic: relative to the
 *   latest snapshot, ignoring snapshots from the future). Years, months and days are
 *   subtracted on the wall clock of `timeZone` with Go's AddDate overflow rule
 *   (31 March − 1 month = 3 March) and the result placed in the zone like Go's
 *   time.Date does; hours are exact 3600 s. If every snapshot is in the future there is
 *   no reference and keep-within keeps them all (restic does the same).
 * - keep-tag keeps a snapshot carrying any of the listed tags.
 * - A snapshot is kept if any rule keeps it; reasons are in restic's order: tags,
 *   within, last, hourly, daily, weekly, monthly, yearly.
 *
 * One deliberate difference: restic's hourly bucket is the wall-clock hour, so the two
 * 02:xx hours of a daylight-saving fall-back night are one bucket; here they are two
 * (the bucket includes the UTC offset), since they are an hour apart in real time.
 */
import type { SnapshotIdentity } from './api.js';
import { RepositoryError } from './errors.js';

export interface RetentionPolicy {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
  /** e.g. `30d`, `2y5m7d3h` */
  readonly keepWithin?: string;
  readonly keepTags?: readonly string[];
}

export interface RetentionInput {
  readonly id: string;
  readonly time: Date;
  readonly tags: readonly string[];
  readonly identity: SnapshotIdentity;
}

export interface RetentionDecision {
  readonly snapshot: RetentionInput;
  readonly keep: boolean;
  /** Every rule that keeps the snapshot, or `['no rule keeps it']`. */
  readonly reasons: readonly string[];
}

export interface RetentionGroup {
  /** `host <host>:<path>`, `pvc <uid>` or `pod <namespace>/<pod>/<volume>` */
  readonly key: string;
  /** Newest first. */
  readonly decisions: readonly RetentionDecision[];
}

export interface RetentionOptions {
  /** Snapshots after this instant are not used as keep-within's reference. */
  readonly now: Date;
  /** IANA zone in which hours, days, weeks, months and years are counted. */
  readonly timeZone: string;
}

export interface KeepWithin {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly hours: number;
}

export const NO_RULE_KEEPS_IT = 'no rule keeps it';
export const EMPTY_POLICY_PROBLEM = 'refusing to forget everything: give at least one keep rule';

const COUNT_RULES = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;
type CountRule = (typeof COUNT_RULES)[number];
const KNOWN_RULES: ReadonlySet<string> = new Set<string>([...COUNT_RULES, 'keepWithin', 'keepTags']);

const WITHIN_UNITS = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;
const WITHIN_SHAPE = /^(?:\d+[ymdh])+$/;

/** Parses restic's duration syntax (`30d`, `2y5m7d3h`): whole numbers with units y, m, d, h, each unit at most once. */
export function parseKeepWithin(text: string): KeepWithin {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  const fail = (why: string): never => {
    throw new RepositoryError(
      'InvalidArgument',
      `keep-within ${JSON.stringify(text)} is not a duration (${why}); write whole numbers with units y, m, d, h, e.g. "30d" or "2y5m7d3h"`,
    );
  };
  if (typeof text !== 'string') fail('it is not text');
  if (!WITHIN_SHAPE.test(trimmed)) fail(trimmed === '' ? 'it is empty' : 'unexpected characters');
  const parts: Record<string, number> = {};
  for (const [, digits, unit] of trimmed.matchAll(/(\d+)([ymdh])/g)) {
    const field = WITHIN_UNITS[unit as keyof typeof WITHIN_UNITS];
    if (field in parts) fail(`unit ${unit} appears twice`);
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) fail(`${digits} is too large`);
    parts[field] = value;
  }
  return { years: parts['years'] ?? 0, months: parts['months'] ?? 0, days: parts['days'] ?? 0, hours: parts['hours'] ?? 0 };
}

/** Canonical form, as restic prints it in reasons: `2y5m7d3h`, zero units left out. */
function formatKeepWithin(d: KeepWithin): string {
  const text = `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${d.hours ? `${d.hours}h` : ''}`;
  return text === '' ? '0h' : text;
}

function isZero(d: KeepWithin): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** Every problem of a policy, worded for the person who wrote it; empty when it can be applied. */
export function validatePolicy(policy: RetentionPolicy): string[] {
  if (typeof policy !== 'object' || policy === null) return ['the retention policy must be an object of keep rules'];
  const problems: string[] = [];
  for (const key of Object.keys(policy)) {
    if (!KNOWN_RULES.has(key)) problems.push(`unknown rule ${JSON.stringify(key)}; known rules: ${[...KNOWN_RULES].join(', ')}`);
  }
  for (const rule of COUNT_RULES) {
    const value: unknown = policy[rule];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) problems.push(`${rule} must be a whole number, got ${describe(value)}`);
    else if (value < -1) problems.push(`${rule} must be a count ≥ 0, or -1 for unlimited, got ${value}`);
  }
  if (policy.keepWithin !== undefined) {
    try {
      parseKeepWithin(policy.keepWithin);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (policy.keepTags !== undefined) {
    if (!Array.isArray(policy.keepTags)) problems.push(`keepTags must be a list of tags, got ${describe(policy.keepTags)}`);
    else if (policy.keepTags.some((tag) => typeof tag !== 'string' || tag === '')) problems.push('keepTags must contain non-empty tag names only');
  }
  if (problems.length === 0 && isEmptyPolicy(policy)) problems.push(EMPTY_POLICY_PROBLEM);
  return problems;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function isEmptyPolicy(policy: RetentionPolicy): boolean {
  const counts = COUNT_RULES.every((rule) => !policy[rule]);
  const within = policy.keepWithin === undefined || isZero(parseKeepWithin(policy.keepWithin));
  return counts && within && (policy.keepTags ?? []).length === 0;
}

/** The group a snapshot's retention is counted in; snapshots with equal keys form one lineage. */
export function retentionGroupKey(identity: SnapshotIdentity): string {
  if (identity.kind === 'host') return `host ${identity.host}:${identity.path}`;
  if (identity.pvcUid) return `pvc ${identity.pvcUid}`;
  return `pod ${identity.namespace}/${identity.pod}/${identity.volume}`;
}

/**
 * Decides, per identity group, which snapshots the policy keeps. Throws RepositoryError
 * `InvalidArgument` for an invalid or empty policy, an unknown time zone, an invalid date
 * or duplicate snapshot ids. Groups are sorted by key; decisions newest first, equal
 * times by id.
 */
export function applyRetention(snapshots: readonly RetentionInput[], policy: RetentionPolicy, options: RetentionOptions): RetentionGroup[] {
  const problems = validatePolicy(policy);
  if (problems.length > 0) throw new RepositoryError('InvalidArgument', `retention policy rejected: ${problems.join('; ')}`);
  if (!(options.now instanceof Date) || Number.isNaN(options.now.getTime())) {
    throw new RepositoryError('InvalidArgument', 'retention needs a valid "now" date; pass the clock\'s current time');
  }
  const calendar = new ZoneCalendar(options.timeZone);
  checkSnapshots(snapshots);
  const groups = new Map<string, RetentionInput[]>();
  for (const snapshot of snapshots) {
    const key = retentionGroupKey(snapshot.identity);
    const members = groups.get(key) ?? [];
    members.push(snapshot);
    groups.set(key, members);
  }
  return [...groups.keys()]
    .sort(compareStrings)
    .map((key) => ({ key, decisions: decideGroup(groups.get(key) ?? [], policy, calendar, options.now.getTime()) }));
}

function checkSnapshots(snapshots: readonly RetentionInput[]): void {
  const seen = new Set<string>();
  for (const snapshot of snapshots) {
    if (!(snapshot.time instanceof Date) || Number.isNaN(snapshot.time.getTime())) {
      throw new RepositoryError('InvalidArgument', `snapshot ${snapshot.id} has an invalid time; repair or forget it by id`);
    }
    if (seen.has(snapshot.id)) throw new RepositoryError('InvalidArgument', `snapshot ${snapshot.id} is listed twice; pass each snapshot once`);
    seen.add(snapshot.id);
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function newestFirst(a: RetentionInput, b: RetentionInput): number {
  return b.time.getTime() - a.time.getTime() || compareStrings(a.id, b.id);
}

type BucketOf = (instant: number, index: number) => string;

interface Bucket {
  remaining: number;
  last: string | undefined;
  readonly bucketOf: BucketOf;
  readonly reason: string;
}

const BUCKET_RULES: readonly { readonly rule: CountRule; readonly reason: string; readonly unit: CalendarUnit | 'snapshot' }[] = [
  { rule: 'keepLast', reason: 'last snapshot', unit: 'snapshot' },
  { rule: 'keepHourly', reason: 'hourly snapshot', unit: 'hour' },
  { rule: 'keepDaily', reason: 'daily snapshot', unit: 'day' },
  { rule: 'keepWeekly', reason: 'weekly snapshot', unit: 'week' },
  { rule: 'keepMonthly', reason: 'monthly snapshot', unit: 'month' },
  { rule: 'keepYearly', reason: 'yearly snapshot', unit: 'year' },
];

function decideGroup(members: readonly RetentionInput[], policy: RetentionPolicy, calendar: ZoneCalendar, now: number): RetentionDecision[] {
  const ordered = [...members].sort(newestFirst);
  const buckets: Bucket[] = BUCKET_RULES.filter(({ rule }) => (policy[rule] ?? 0) !== 0).map(({ rule, reason, unit }) => ({
    remaining: policy[rule] ?? 0,
    last: undefined,
    reason,
    bucketOf: unit === 'snapshot' ? (_instant, index) => String(index) : (instant) => calendar.bucket(unit, instant),
  }));
  const within = withinRule(ordered, policy, calendar, now);
  const keepTags = [...new Set(policy.keepTags ?? [])];
  return ordered.map((snapshot, index) => {
    const reasons: string[] = [];
    for (const tag of keepTags) if (snapshot.tags.includes(tag)) reasons.push(`has tag ${tag}`);
    if (within && snapshot.time.getTime() > within.threshold) reasons.push(within.reason);
    const isOldest = index === ordered.length - 1;
    for (const bucket of buckets) {
      if (bucket.remaining === 0) continue;
      const value = bucket.bucketOf(snapshot.time.getTime(), index);
      if (value === bucket.last && !isOldest) continue;
      bucket.last = value;
      if (bucket.remaining > 0) bucket.remaining--;
      reasons.push(bucket.reason);
    }
    return reasons.length > 0 ? { snapshot, keep: true, reasons } : { snapshot, keep: false, reasons: [NO_RULE_KEEPS_IT] };
  });
}

function withinRule(
  ordered: readonly RetentionInput[],
  policy: RetentionPolicy,
  calendar: ZoneCalendar,
  now: number,
): { threshold: number; reason: string } | undefined {
  if (policy.keepWithin === undefined) return undefined;
  const duration = parseKeepWithin(policy.keepWithin);
  if (isZero(duration)) return undefined;
  const reason = `within ${formatKeepWithin(duration)}`;
  const reference = ordered.find((snapshot) => snapshot.time.getTime() <= now);
  if (!reference) return { threshold: -Infinity, reason };
  return { threshold: calendar.subtract(reference.time.getTime(), duration), reason };
}

type CalendarUnit = 'hour' | 'day' | 'week' | 'month' | 'year';

interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** Local wall time minus UTC, in milliseconds. */
  readonly offsetMs: number;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Calendar arithmetic in one IANA zone through Intl (no tz database of our own). */
class ZoneCalendar {
  private readonly format: Intl.DateTimeFormat;

  constructor(readonly timeZone: string) {
    try {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        era: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new RepositoryError('InvalidArgument', `unknown time zone ${JSON.stringify(timeZone)}; use an IANA name such as "UTC" or "Europe/Berlin"`);
    }
  }

  wallClock(instant: number): WallClock {
    const fields: Record<string, string> = {};
    for (const part of this.format.formatToParts(instant)) fields[part.type] = part.value;
    const yearOfEra = Number(fields['year']);
    const year = fields['era'] === 'BC' ? 1 - yearOfEra : yearOfEra;
    const wall = {
      year,
      month: Number(fields['month']),
      day: Number(fields['day']),
      hour: Number(fields['hour']),
      minute: Number(fields['minute']),
      second: Number(fields['second']),
    };
    const wholeSecond = Math.floor(instant / 1000) * 1000;
    return { ...wall, offsetMs: utcMs(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second) - wholeSecond };
  }

  bucket(unit: CalendarUnit, instant: number): string {
    const w = this.wallClock(instant);
    switch (unit) {
      case 'hour':
        // The offset separates the two wall-clock hours of a fall-back night.
        return `${w.year}-${w.month}-${w.day}T${w.hour}${w.offsetMs >= 0 ? '+' : '-'}${Math.abs(w.offsetMs)}`;
      case 'day':
        return `${w.year}-${w.month}-${w.day}`;
      case 'week': {
        const { year, week } = isoWeek(w.year, w.month, w.day);
        return `${year}-W${week}`;
      }
      case 'month':
        return `${w.year}-${w.month}`;
      case 'year':
        return `${w.year}`;
    }
  }

  /** instant − duration: years, months, days on the local wall clock (Go AddDate), then exact hours. */
  subtract(instant: number, d: KeepWithin): number {
    const w = this.wallClock(instant);
    const millis = instant - Math.floor(instant / 1000) * 1000;
    const wallMs = utcMs(w.year - d.years, w.month - d.months, w.day - d.days, w.hour, w.minute, w.second) + millis;
    return this.instantOfWall(wallMs) - d.hours * HOUR_MS;
  }

  /**
   * The instant whose local wall clock reads `wallMs` (wall time encoded as if UTC),
   * resolved like Go's time.Date so keep-within matches restic: guess the offset at the
   * wall time read as UTC, and if that offset does not hold at the resulting instant, use
   * the offset that does. A time skipped by spring-forward thus moves forward by the gap;
   * which of two repeated times wins depends on the zone's side of UTC (Berlin: the later).
   */
  private instantOfWall(wallMs: number): number {
    const guess = this.wallClock(wallMs).offsetMs;
    const actual = this.wallClock(wallMs - guess).offsetMs;
    return wallMs - actual;
  }
}

/** Milliseconds of a proleptic-Gregorian UTC date; out-of-range fields roll over like Go's time.Date. */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** ISO 8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = utcMs(year, month, day, 0, 0, 0);
  const mondayBased = (new Date(date).getUTCDay() + 6) % 7;
  const thursday = date + (3 - mondayBased) * DAY_MS;
  const weekYear = new Date(thursday).getUTCFullYear();
  return { year: weekYear, week: 1 + Math.floor((thursday - utcMs(weekYear, 1, 1, 0, 0, 0)) / (7 * DAY_MS)) };
}
