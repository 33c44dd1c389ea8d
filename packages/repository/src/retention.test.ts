/**
 * Golden tables for retention. Every expectation was worked out by hand from restic's
 * rules (newest first; one kept snapshot per bucket; a bucket rule with counts left also
 * keeps the oldest snapshot; keep-within relative to the newest snapshot not after now),
 * with the local times written next to the instants they come from.
 */
import { describe, expect, it } from 'vitest';
import type { SnapshotIdentity } from './api.js';
import { isRepositoryError } from './errors.js';
import {
  applyRetention,
  EMPTY_POLICY_PROBLEM,
  NO_RULE_KEEPS_IT,
  parseKeepWithin,
  retentionGroupKey,
  validatePolicy,
  type RetentionGroup,
  type RetentionInput,
  type RetentionPolicy,
} from './retention.js';

const HOST: SnapshotIdentity = { kind: 'host', host: 'h1', path: '/data' };
const LATER = new Date('2030-01-01T00:00:00Z');

/** [id, ISO instant, tags] */
type Row = readonly [string, string, (readonly string[])?];

function inputs(rows: readonly Row[], identity: SnapshotIdentity = HOST): RetentionInput[] {
  return rows.map(([id, iso, tags]) => ({ id, time: new Date(iso), tags: tags ?? [], identity }));
}

/** One line per snapshot, newest first: `id keep: reason, reason` or `id remove`. */
function golden(groups: readonly RetentionGroup[]): string[] {
  return groups.flatMap((group) =>
    group.decisions.map((d) => {
      if (d.keep) return `${d.snapshot.id} keep: ${d.reasons.join(', ')}`;
      expect(d.reasons).toEqual([NO_RULE_KEEPS_IT]);
      return `${d.snapshot.id} remove`;
    }),
  );
}

interface Case {
  readonly name: string;
  readonly rows: readonly Row[];
  readonly policy: RetentionPolicy;
  readonly timeZone?: string;
  readonly now?: string;
  readonly expected: readonly string[];
}

function runCases(cases: readonly Case[]): void {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const groups = applyRetention(inputs(c.rows), c.policy, { now: c.now ? new Date(c.now) : LATER, timeZone: c.timeZone ?? 'UTC' });
    expect(golden(groups)).toEqual(c.expected);
  });
}

// Ten snapshots over New Year 2020/21; ISO weeks noted (2020-12-28..2021-01-03 is 2020-W53).
const YEAR_END: readonly Row[] = [
  ['c01', '2020-11-15T10:00:00Z'], // Sun, 2020-W46
  ['c02', '2020-12-30T10:00:00Z'], // Wed, 2020-W53
  ['c03', '2021-01-02T10:00:00Z'], // Sat, 2020-W53
  ['c04', '2021-01-02T18:00:00Z'], // Sat, 2020-W53
  ['c05', '2021-01-20T10:00:00Z', ['pin']], // Wed, 2021-W03
  ['c06', '2021-02-01T10:00:00Z'], // Mon, 2021-W05
  ['c07', '2021-02-07T10:00:00Z'], // Sun, 2021-W05
  ['c08', '2021-02-08T09:00:00Z'], // Mon, 2021-W06
  ['c09', '2021-02-08T21:00:00Z'], // Mon, 2021-W06
  ['c10', '2021-02-09T08:00:00Z'], // Tue, 2021-W06
];

describe('applyRetention: counted rules, tags and combinations', () => {
  runCases([
    {
      name: 'every rule at once (restic reason order: tags, within, last, hourly, daily, weekly, monthly, yearly)',
      rows: YEAR_END,
      policy: { keepLast: 2, keepDaily: 3, keepWeekly: 2, keepMonthly: 3, keepYearly: -1, keepTags: ['pin'] },
      expected: [
        'c10 keep: last snapshot, daily snapshot, weekly snapshot, monthly snapshot, yearly snapshot',
        'c09 keep: last snapshot, daily snapshot',
        'c08 remove',
        'c07 keep: daily snapshot, weekly snapshot',
        'c06 remove',
        'c05 keep: has tag pin, monthly snapshot',
        'c04 remove',
        'c03 remove',
        'c02 keep: monthly snapshot, yearly snapshot',
        // 2020 again, but yearly is unlimited and c01 is the oldest: restic keeps it.
        'c01 keep: yearly snapshot',
      ],
    },
    {
      name: 'keep-last -1 keeps everything',
      rows: YEAR_END,
      policy: { keepLast: -1 },
      expected: YEAR_END.map(([id]) => `${id} keep: last snapshot`).reverse(),
    },
    {
      name: 'keep-monthly -1: newest of every month',
      rows: YEAR_END,
      policy: { keepMonthly: -1 },
      expected: [
        'c10 keep: monthly snapshot',
        'c09 remove',
        'c08 remove',
        'c07 remove',
        'c06 remove',
        'c05 keep: monthly snapshot',
        'c04 remove',
        'c03 remove',
        'c02 keep: monthly snapshot',
        'c01 keep: monthly snapshot',
      ],
    },
    {
      name: 'keep-weekly across New Year: 2020-12-30 and 2021-01-02 share ISO week 2020-W53',
      rows: YEAR_END,
      policy: { keepWeekly: 4 },
      expected: [
        'c10 keep: weekly snapshot',
        'c09 remove',
        'c08 remove',
        'c07 keep: weekly snapshot',
        'c06 remove',
        'c05 keep: weekly snapshot',
        'c04 keep: weekly snapshot',
        'c03 remove',
        'c02 remove',
        'c01 remove',
      ],
    },
    {
      name: 'keep-tag: any listed tag, one reason per matching tag in policy order',
      rows: [
        ['k1', '2021-01-01T00:00:00Z', ['prod']],
        ['k2', '2021-01-02T00:00:00Z'],
        ['k3', '2021-01-03T00:00:00Z', ['keep', 'prod']],
        ['k4', '2021-01-04T00:00:00Z', ['staging']],
        ['k5', '2021-01-05T00:00:00Z', ['x']],
      ],
      policy: { keepLast: 1, keepTags: ['prod', 'keep', 'prod'] },
      expected: ['k5 keep: last snapshot', 'k4 remove', 'k3 keep: has tag prod, has tag keep', 'k2 remove', 'k1 keep: has tag prod'],
    },
    {
      name: 'a rule with counts left keeps the oldest snapshot too (restic ≥ 0.16)',
      rows: [
        ['d1', '2021-05-01T08:00:00Z'],
        ['d2', '2021-05-01T20:00:00Z'],
        ['d3', '2021-05-02T08:00:00Z'],
      ],
      policy: { keepDaily: 3 },
      expected: ['d3 keep: daily snapshot', 'd2 keep: daily snapshot', 'd1 keep: daily snapshot'],
    },
    {
      name: 'a used-up rule does not keep the oldest snapshot',
      rows: [
        ['d1', '2021-05-01T08:00:00Z'],
        ['d2', '2021-05-01T20:00:00Z'],
        ['d3', '2021-05-02T08:00:00Z'],
      ],
      policy: { keepDaily: 2 },
      expected: ['d3 keep: daily snapshot', 'd2 keep: daily snapshot', 'd1 remove'],
    },
    {
      name: 'leap day is a day of its own',
      rows: [
        ['l1', '2020-02-28T12:00:00Z'],
        ['l2', '2020-02-29T06:00:00Z'],
        ['l3', '2020-02-29T18:00:00Z'],
        ['l4', '2020-03-01T12:00:00Z'],
      ],
      policy: { keepDaily: 2, keepMonthly: 1 },
      expected: ['l4 keep: daily snapshot, monthly snapshot', 'l3 keep: daily snapshot', 'l2 remove', 'l1 remove'],
    },
    {
      name: 'keep-hourly counts distinct hours, not snapshots',
      rows: [
        ['o1', '2021-06-01T09:59:59Z'],
        ['o2', '2021-06-01T10:00:00Z'],
        ['o3', '2021-06-01T10:30:00Z'],
        ['o4', '2021-06-01T12:15:00Z'],
      ],
      policy: { keepHourly: 2 },
      expected: ['o4 keep: hourly snapshot', 'o3 keep: hourly snapshot', 'o2 remove', 'o1 remove'],
    },
  ]);
});

// The same instants seen from three zones (local times in the comments: UTC / LA / Kolkata).
const ZONED: readonly Row[] = [
  ['z0', '2021-03-01T12:00:00Z'], // 03-01 12:00 / 03-01 04:00 / 03-01 17:30
  ['z1', '2021-03-09T20:00:00Z'], // 03-09 20:00 / 03-09 12:00 / 03-10 01:30
  ['z2', '2021-03-10T07:30:00Z'], // 03-10 07:30 / 03-09 23:30 / 03-10 13:00
  ['z3', '2021-03-10T16:00:00Z'], // 03-10 16:00 / 03-10 08:00 / 03-10 21:30
  ['z4', '2021-03-10T19:00:00Z'], // 03-10 19:00 / 03-10 11:00 / 03-11 00:30
  ['z5', '2021-03-10T20:00:00Z'], // 03-10 20:00 / 03-10 12:00 / 03-11 01:30
  ['z6', '2021-03-11T06:00:00Z'], // 03-11 06:00 / 03-10 22:00 / 03-11 11:30
];

// New Year: y2 is 2021 in Kolkata, y3 is still 2020 in Los Angeles.
const NEW_YEAR: readonly Row[] = [
  ['y1', '2020-06-01T00:00:00Z'],
  ['y2', '2020-12-31T20:00:00Z'], // Kolkata 2021-01-01 01:30
  ['y3', '2021-01-01T03:00:00Z'], // Los Angeles 2020-12-31 19:00
  ['y4', '2021-06-01T00:00:00Z'],
];

describe('applyRetention: calendar buckets follow the time zone', () => {
  runCases([
    {
      name: 'daily in UTC',
      rows: ZONED,
      policy: { keepDaily: -1 },
      timeZone: 'UTC',
      expected: ['z6 keep: daily snapshot', 'z5 keep: daily snapshot', 'z4 remove', 'z3 remove', 'z2 remove', 'z1 keep: daily snapshot', 'z0 keep: daily snapshot'],
    },
    {
      name: 'daily in America/Los_Angeles',
      rows: ZONED,
      policy: { keepDaily: -1 },
      timeZone: 'America/Los_Angeles',
      expected: ['z6 keep: daily snapshot', 'z5 remove', 'z4 remove', 'z3 remove', 'z2 keep: daily snapshot', 'z1 remove', 'z0 keep: daily snapshot'],
    },
    {
      name: 'daily in Asia/Kolkata (UTC+05:30)',
      rows: ZONED,
      policy: { keepDaily: -1 },
      timeZone: 'Asia/Kolkata',
      expected: ['z6 keep: daily snapshot', 'z5 remove', 'z4 remove', 'z3 keep: daily snapshot', 'z2 remove', 'z1 remove', 'z0 keep: daily snapshot'],
    },
    {
      name: 'yearly in UTC',
      rows: NEW_YEAR,
      policy: { keepYearly: 2 },
      expected: ['y4 keep: yearly snapshot', 'y3 remove', 'y2 keep: yearly snapshot', 'y1 remove'],
    },
    {
      name: 'yearly in America/Los_Angeles',
      rows: NEW_YEAR,
      policy: { keepYearly: 2 },
      timeZone: 'America/Los_Angeles',
      expected: ['y4 keep: yearly snapshot', 'y3 keep: yearly snapshot', 'y2 remove', 'y1 remove'],
    },
    {
      name: 'yearly in Asia/Kolkata',
      rows: NEW_YEAR,
      policy: { keepYearly: 2 },
      timeZone: 'Asia/Kolkata',
      expected: ['y4 keep: yearly snapshot', 'y3 remove', 'y2 remove', 'y1 keep: yearly snapshot'],
    },
    {
      name: 'ISO week in UTC: Monday 2021-01-04 03:00 starts 2021-W01',
      rows: [
        ['x0', '2020-12-20T12:00:00Z'],
        ['x1', '2021-01-03T12:00:00Z'],
        ['x2', '2021-01-04T03:00:00Z'],
      ],
      policy: { keepWeekly: -1 },
      expected: ['x2 keep: weekly snapshot', 'x1 keep: weekly snapshot', 'x0 keep: weekly snapshot'],
    },
    {
      name: 'ISO week in America/Los_Angeles: the same instant is still Sunday of 2020-W53',
      rows: [
        ['x0', '2020-12-20T12:00:00Z'],
        ['x1', '2021-01-03T12:00:00Z'],
        ['x2', '2021-01-04T03:00:00Z'],
      ],
      policy: { keepWeekly: -1 },
      timeZone: 'America/Los_Angeles',
      expected: ['x2 keep: weekly snapshot', 'x1 remove', 'x0 keep: weekly snapshot'],
    },
  ]);
});

// Europe/Berlin fall-back 2021-10-31: 03:00 CEST becomes 02:00 CET at 01:00Z.
const FALL_BACK: readonly Row[] = [
  ['f1', '2021-10-30T21:59:00Z'], // 10-30 23:59 CEST
  ['f2', '2021-10-30T22:00:00Z'], // 10-31 00:00 CEST
  ['f3', '2021-10-31T00:30:00Z'], // 10-31 02:30 CEST
  ['f4', '2021-10-31T00:45:00Z'], // 10-31 02:45 CEST
  ['f5', '2021-10-31T01:30:00Z'], // 10-31 02:30 CET (the repeated hour)
  ['f6', '2021-10-31T22:59:00Z'], // 10-31 23:59 CET
  ['f7', '2021-10-31T23:00:00Z'], // 11-01 00:00 CET
];

// Europe/Berlin spring-forward 2021-03-28: 02:00 CET becomes 03:00 CEST at 01:00Z.
const SPRING_FORWARD: readonly Row[] = [
  ['s1', '2021-03-27T23:30:00Z'], // 03-28 00:30 CET
  ['s2', '2021-03-28T00:59:00Z'], // 03-28 01:59 CET
  ['s3', '2021-03-28T01:00:00Z'], // 03-28 03:00 CEST
  ['s4', '2021-03-28T21:59:00Z'], // 03-28 23:59 CEST
  ['s5', '2021-03-28T22:00:00Z'], // 03-29 00:00 CEST
];

describe('applyRetention: daylight saving time in Europe/Berlin', () => {
  runCases([
    {
      name: 'fall-back: 02:30 CEST and 02:30 CET are one day but two hours',
      rows: [['a0', '2021-10-29T10:00:00Z'], FALL_BACK[2]!, FALL_BACK[4]!],
      policy: { keepHourly: -1, keepDaily: -1 },
      timeZone: 'Europe/Berlin',
      expected: ['f5 keep: hourly snapshot, daily snapshot', 'f3 keep: hourly snapshot', 'a0 keep: hourly snapshot, daily snapshot'],
    },
    {
      name: 'fall-back: hourly and daily counts across the repeated hour',
      rows: FALL_BACK,
      policy: { keepHourly: 4, keepDaily: 3 },
      timeZone: 'Europe/Berlin',
      expected: [
        'f7 keep: hourly snapshot, daily snapshot',
        'f6 keep: hourly snapshot, daily snapshot',
        'f5 keep: hourly snapshot',
        'f4 keep: hourly snapshot',
        'f3 remove',
        'f2 remove',
        'f1 keep: daily snapshot',
      ],
    },
    {
      name: 'fall-back instants bucketed in UTC instead',
      rows: FALL_BACK,
      policy: { keepHourly: 4, keepDaily: 3 },
      timeZone: 'UTC',
      expected: [
        'f7 keep: hourly snapshot, daily snapshot',
        'f6 keep: hourly snapshot',
        'f5 keep: hourly snapshot',
        'f4 keep: hourly snapshot',
        'f3 remove',
        'f2 keep: daily snapshot',
        'f1 keep: daily snapshot',
      ],
    },
    {
      name: 'spring-forward: 01:59 CET and 03:00 CEST are adjacent hours of one day',
      rows: SPRING_FORWARD,
      policy: { keepHourly: 3, keepDaily: 2 },
      timeZone: 'Europe/Berlin',
      expected: ['s5 keep: hourly snapshot, daily snapshot', 's4 keep: hourly snapshot, daily snapshot', 's3 keep: hourly snapshot', 's2 remove', 's1 remove'],
    },
    {
      name: 'spring-forward instants bucketed in UTC instead',
      rows: SPRING_FORWARD,
      policy: { keepHourly: 3, keepDaily: 2 },
      timeZone: 'UTC',
      expected: ['s5 keep: hourly snapshot, daily snapshot', 's4 keep: hourly snapshot', 's3 keep: hourly snapshot', 's2 remove', 's1 keep: daily snapshot'],
    },
  ]);
});

describe('applyRetention: keep-within is measured from the newest snapshot', () => {
  runCases([
    {
      name: '1m from 31 March reaches back to 3 March (Go AddDate: 31 Feb rolls over)',
      rows: [
        ['m0', '2021-02-28T10:00:00Z'],
        ['m1', '2021-03-02T11:00:00Z'],
        ['m2', '2021-03-03T09:00:00Z'],
        ['m3', '2021-03-03T11:00:00Z'],
        ['ref', '2021-03-31T10:00:00Z'],
      ],
      policy: { keepWithin: '1m' },
      expected: ['ref keep: within 1m', 'm3 keep: within 1m', 'm2 remove', 'm1 remove', 'm0 remove'],
    },
    {
      name: '1m1d from 31 March reaches back to 2 March',
      rows: [
        ['m0', '2021-02-28T10:00:00Z'],
        ['m1', '2021-03-02T11:00:00Z'],
        ['m2', '2021-03-03T09:00:00Z'],
        ['m3', '2021-03-03T11:00:00Z'],
        ['ref', '2021-03-31T10:00:00Z'],
      ],
      policy: { keepWithin: '1m1d' },
      expected: ['ref keep: within 1m1d', 'm3 keep: within 1m1d', 'm2 keep: within 1m1d', 'm1 keep: within 1m1d', 'm0 remove'],
    },
    {
      name: '1y2m from 30 April 2021 is 1 March 2020 (30 Feb of a leap year rolls over)',
      rows: [
        ['n0', '2020-02-29T23:00:00Z'],
        ['n1', '2020-03-01T01:00:00Z'],
        ['ref', '2021-04-30T00:00:00Z'],
      ],
      policy: { keepWithin: '1y2m' },
      expected: ['ref keep: within 1y2m', 'n1 keep: within 1y2m', 'n0 remove'],
    },
    {
      name: '1y from leap day 2024-02-29 is 2023-03-01; the boundary itself is outside',
      rows: [
        ['q0', '2023-02-28T23:00:00Z'],
        ['q1', '2023-03-01T12:00:00Z'],
        ['q2', '2023-03-01T12:00:01Z'],
        ['ref', '2024-02-29T12:00:00Z'],
      ],
      policy: { keepWithin: '1y' },
      expected: ['ref keep: within 1y', 'q2 keep: within 1y', 'q1 remove', 'q0 remove'],
    },
    {
      name: '2y5m7d3h: calendar part first, then exact hours',
      rows: [
        ['p0', '2019-05-13T09:00:00Z'],
        ['p1', '2019-05-13T09:00:01Z'],
        ['ref', '2021-10-20T12:00:00Z'],
      ],
      policy: { keepWithin: '2y5m7d3h' },
      expected: ['ref keep: within 2y5m7d3h', 'p1 keep: within 2y5m7d3h', 'p0 remove'],
    },
    {
      name: 'snapshots after now are not the reference (restic ignores future snapshots), but are kept',
      rows: [
        ['r3', '2021-05-20T00:00:00Z'],
        ['r2', '2021-05-25T00:00:00Z'],
        ['r1', '2021-05-31T00:00:00Z'],
        ['future', '2021-07-01T00:00:00Z'],
      ],
      policy: { keepWithin: ' 7d0h ' },
      now: '2021-06-01T00:00:00Z',
      expected: ['future keep: within 7d', 'r1 keep: within 7d', 'r2 keep: within 7d', 'r3 remove'],
    },
    {
      name: 'when every snapshot is in the future there is no reference and all are kept',
      rows: [
        ['r3', '2021-05-20T00:00:00Z'],
        ['r1', '2021-05-31T00:00:00Z'],
      ],
      policy: { keepWithin: '1d' },
      now: '2021-01-01T00:00:00Z',
      expected: ['r1 keep: within 1d', 'r3 keep: within 1d'],
    },
    {
      name: 'a day is not 24 h across spring-forward in Europe/Berlin',
      rows: [
        ['b1', '2021-03-27T12:30:00Z'], // 13:30 CET
        ['b2', '2021-03-27T13:30:00Z'], // 14:30 CET
        ['ref', '2021-03-28T12:00:00Z'], // 14:00 CEST; one day earlier is 14:00 CET = 13:00Z
      ],
      policy: { keepWithin: '1d' },
      timeZone: 'Europe/Berlin',
      expected: ['ref keep: within 1d', 'b2 keep: within 1d', 'b1 remove'],
    },
    {
      name: 'the same day in UTC is 24 h',
      rows: [
        ['b1', '2021-03-27T12:30:00Z'],
        ['b2', '2021-03-27T13:30:00Z'],
        ['ref', '2021-03-28T12:00:00Z'],
      ],
      policy: { keepWithin: '1d' },
      timeZone: 'UTC',
      expected: ['ref keep: within 1d', 'b2 keep: within 1d', 'b1 keep: within 1d'],
    },
    {
      name: '24h in Europe/Berlin is exact hours',
      rows: [
        ['b1', '2021-03-27T12:30:00Z'],
        ['b2', '2021-03-27T13:30:00Z'],
        ['ref', '2021-03-28T12:00:00Z'],
      ],
      policy: { keepWithin: '24h' },
      timeZone: 'Europe/Berlin',
      expected: ['ref keep: within 24h', 'b2 keep: within 24h', 'b1 keep: within 24h'],
    },
    {
      name: 'a boundary in the skipped hour moves forward (02:30 on 03-28 does not exist: 03:30 CEST)',
      rows: [
        ['g1', '2021-03-28T01:00:00Z'], // 03:00 CEST
        ['g2', '2021-03-28T01:31:00Z'], // 03:31 CEST
        ['ref', '2021-03-29T00:30:00Z'], // 02:30 CEST on 03-29
      ],
      policy: { keepWithin: '1d' },
      timeZone: 'Europe/Berlin',
      expected: ['ref keep: within 1d', 'g2 keep: within 1d', 'g1 remove'],
    },
    {
      name: 'a boundary in the repeated hour resolves like Go (Berlin: 02:30 CET, the later one)',
      rows: [
        ['h1', '2021-10-31T00:45:00Z'], // 02:45 CEST
        ['h2', '2021-10-31T01:00:00Z'], // 02:00 CET
        ['h3', '2021-10-31T01:31:00Z'], // 02:31 CET
        ['ref', '2021-11-01T01:30:00Z'], // 02:30 CET on 11-01
      ],
      policy: { keepWithin: '1d' },
      timeZone: 'Europe/Berlin',
      expected: ['ref keep: within 1d', 'h3 keep: within 1d', 'h2 remove', 'h1 remove'],
    },
    {
      name: 'keep-within combined with counted rules and tags',
      rows: YEAR_END,
      policy: { keepWithin: '2d', keepLast: 1, keepMonthly: 2, keepTags: ['pin'] },
      expected: [
        'c10 keep: within 2d, last snapshot, monthly snapshot',
        'c09 keep: within 2d',
        'c08 keep: within 2d',
        'c07 keep: within 2d',
        'c06 remove',
        'c05 keep: has tag pin, monthly snapshot',
        'c04 remove',
        'c03 remove',
        'c02 remove',
        'c01 remove',
      ],
    },
  ]);
});

describe('applyRetention: groups and ordering', () => {
  const pod = (pod: string, pvcUid?: string): SnapshotIdentity => ({ kind: 'pod', namespace: 'ns', pod, volume: 'vol', ...(pvcUid ? { pvcUid } : {}) });
  const snapshots: RetentionInput[] = [
    { id: 'g1', time: new Date('2021-01-01T00:00:00Z'), tags: [], identity: HOST },
    { id: 'g1b', time: new Date('2021-01-02T00:00:00Z'), tags: [], identity: HOST },
    { id: 'g2', time: new Date('2021-01-01T00:00:00Z'), tags: [], identity: { kind: 'host', host: 'h1', path: '/etc' } },
    { id: 'g3', time: new Date('2021-01-03T00:00:00Z'), tags: [], identity: pod('pod-a', 'uid-1') },
    // Another pod mounting the same PVC continues the same lineage.
    { id: 'g4', time: new Date('2021-01-04T00:00:00Z'), tags: [], identity: pod('pod-b', 'uid-1') },
    // Without a PVC uid the pod/volume names are the identity, even if a uid'd snapshot shares them.
    { id: 'g5', time: new Date('2021-01-05T00:00:00Z'), tags: [], identity: pod('pod-a') },
    { id: 'g6', time: new Date('2021-01-01T00:00:00Z'), tags: [], identity: pod('pod-a') },
  ];

  it('groups by host+path, by PVC uid when set, else by namespace/pod/volume; keys sorted', () => {
    const groups = applyRetention(snapshots, { keepLast: 1 }, { now: LATER, timeZone: 'UTC' });
    expect(groups.map((g) => [g.key, golden([g])])).toEqual([
      ['host h1:/data', ['g1b keep: last snapshot', 'g1 remove']],
      ['host h1:/etc', ['g2 keep: last snapshot']],
      ['pod ns/pod-a/vol', ['g5 keep: last snapshot', 'g6 remove']],
      ['pvc uid-1', ['g4 keep: last snapshot', 'g3 remove']],
    ]);
  });

  it('gives the same output for any input order; equal times are ordered by id', () => {
    const tied = [...snapshots, { id: 'g0', time: new Date('2021-01-02T00:00:00Z'), tags: [], identity: HOST }];
    const forward = applyRetention(tied, { keepLast: 1 }, { now: LATER, timeZone: 'UTC' });
    const backward = applyRetention([...tied].reverse(), { keepLast: 1 }, { now: LATER, timeZone: 'UTC' });
    expect(golden(backward)).toEqual(golden(forward));
    expect(golden(forward).slice(0, 3)).toEqual(['g0 keep: last snapshot', 'g1b remove', 'g1 remove']);
  });

  it('returns the input objects themselves and no groups for no snapshots', () => {
    const groups = applyRetention(snapshots, { keepLast: 1 }, { now: LATER, timeZone: 'UTC' });
    expect(groups.flatMap((g) => g.decisions.map((d) => d.snapshot)).every((s) => snapshots.includes(s))).toBe(true);
    expect(applyRetention([], { keepLast: 1 }, { now: LATER, timeZone: 'UTC' })).toEqual([]);
  });

  it('names group keys from the identity', () => {
    expect(retentionGroupKey({ kind: 'host', host: 'web-1', path: '/srv/www' })).toBe('host web-1:/srv/www');
    expect(retentionGroupKey({ kind: 'pod', namespace: 'db', pod: 'pg-0', volume: 'data', pvcUid: '5e1f', podUid: 'p1' })).toBe('pvc 5e1f');
    expect(retentionGroupKey({ kind: 'pod', namespace: 'db', pod: 'pg-0', volume: 'data', podUid: 'p1' })).toBe('pod db/pg-0/data');
  });
});

describe('parseKeepWithin', () => {
  it.each([
    ['30d', { years: 0, months: 0, days: 30, hours: 0 }],
    ['2y5m7d3h', { years: 2, months: 5, days: 7, hours: 3 }],
    ['3h1y', { years: 1, months: 0, days: 0, hours: 3 }],
    [' 12m ', { years: 0, months: 12, days: 0, hours: 0 }],
    ['0d', { years: 0, months: 0, days: 0, hours: 0 }],
  ])('parses %j', (text, expected) => {
    expect(parseKeepWithin(text)).toEqual(expected);
  });

  it.each([
    ['', 'it is empty'],
    ['   ', 'it is empty'],
    ['30', 'unexpected characters'],
    ['d', 'unexpected characters'],
    ['30x', 'unexpected characters'],
    ['30 d', 'unexpected characters'],
    ['1D', 'unexpected characters'],
    ['-1d', 'unexpected characters'],
    ['1.5d', 'unexpected characters'],
    ['3d4d', 'unit d appears twice'],
    ['99999999999999999999d', 'is too large'],
  ])('rejects %j, naming the value', (text, why) => {
    let caught: unknown;
    try {
      parseKeepWithin(text);
    } catch (err) {
      caught = err;
    }
    expect(isRepositoryError(caught, 'InvalidArgument')).toBe(true);
    expect((caught as Error).message).toContain(`keep-within ${JSON.stringify(text)} is not a duration`);
    expect((caught as Error).message).toContain(why);
    expect((caught as Error).message).toContain('"2y5m7d3h"');
  });
});

describe('validatePolicy', () => {
  it.each<[string, RetentionPolicy]>([
    ['no rules', {}],
    ['all counts zero', { keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 }],
    ['no tags', { keepTags: [] }],
    ['a zero duration', { keepWithin: '0d0h' }],
  ])('refuses an empty policy: %s', (_name, policy) => {
    expect(validatePolicy(policy)).toEqual([EMPTY_POLICY_PROBLEM]);
    expect(EMPTY_POLICY_PROBLEM).toBe('refusing to forget everything: give at least one keep rule');
  });

  it.each<[string, RetentionPolicy]>([
    ['keep-last -1', { keepLast: -1 }],
    ['a tag', { keepTags: ['prod'] }],
    ['a duration', { keepWithin: '30d' }],
    ['everything', { keepLast: 1, keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: -1, keepWithin: '2y5m7d3h', keepTags: ['a', 'b'] }],
  ])('accepts %s', (_name, policy) => {
    expect(validatePolicy(policy)).toEqual([]);
  });

  it.each<[RetentionPolicy, string[]]>([
    [{ keepDaily: -2 }, ['keepDaily must be a count ≥ 0, or -1 for unlimited, got -2']],
    [{ keepWeekly: 1.5 }, ['keepWeekly must be a whole number, got 1.5']],
    [{ keepMonthly: Number.NaN }, ['keepMonthly must be a whole number, got NaN']],
    [{ keepHourly: Number.POSITIVE_INFINITY }, ['keepHourly must be a whole number, got Infinity']],
    [{ keepYearly: '3' as unknown as number }, ['keepYearly must be a whole number, got "3"']],
    [{ keepTags: [''] }, ['keepTags must contain non-empty tag names only']],
    [{ keepTags: 'prod' as unknown as string[] }, ['keepTags must be a list of tags, got "prod"']],
    [
      { keepLast: 1, keepDayly: 3 } as RetentionPolicy,
      ['unknown rule "keepDayly"; known rules: keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly, keepWithin, keepTags'],
    ],
  ])('reports %j', (policy, problems) => {
    expect(validatePolicy(policy)).toEqual(problems);
  });

  it('reports every problem at once, a bad keep-within with its value', () => {
    const problems = validatePolicy({ keepLast: -5, keepWithin: '30' });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toBe('keepLast must be a count ≥ 0, or -1 for unlimited, got -5');
    expect(problems[1]).toContain('keep-within "30" is not a duration');
  });
});

describe('applyRetention: refusals', () => {
  const rows = inputs([['a', '2021-01-01T00:00:00Z']]);
  const options = { now: LATER, timeZone: 'UTC' };

  function refusal(run: () => unknown): string {
    let caught: unknown;
    try {
      run();
    } catch (err) {
      caught = err;
    }
    expect(isRepositoryError(caught, 'InvalidArgument')).toBe(true);
    return (caught as Error).message;
  }

  it('refuses an empty policy instead of removing everything', () => {
    expect(refusal(() => applyRetention(rows, {}, options))).toBe(`retention policy rejected: ${EMPTY_POLICY_PROBLEM}`);
    expect(refusal(() => applyRetention([], { keepLast: 0 }, options))).toContain(EMPTY_POLICY_PROBLEM);
  });

  it('refuses an invalid policy, listing its problems', () => {
    expect(refusal(() => applyRetention(rows, { keepDaily: -3, keepWithin: '1w' }, options))).toMatch(
      /^retention policy rejected: keepDaily must be a count ≥ 0, or -1 for unlimited, got -3; keep-within "1w" is not a duration/,
    );
  });

  it('refuses an unknown time zone, naming it', () => {
    expect(refusal(() => applyRetention(rows, { keepLast: 1 }, { now: LATER, timeZone: 'Mars/Olympus_Mons' }))).toContain('unknown time zone "Mars/Olympus_Mons"');
  });

  it('refuses an invalid now', () => {
    expect(refusal(() => applyRetention(rows, { keepLast: 1 }, { now: new Date('nope'), timeZone: 'UTC' }))).toContain('valid "now"');
  });

  it('refuses a snapshot with an invalid time, naming it', () => {
    const bad = [...rows, { id: 'b0rk', time: new Date('not a date'), tags: [], identity: HOST }];
    expect(refusal(() => applyRetention(bad, { keepLast: 1 }, options))).toContain('snapshot b0rk has an invalid time');
  });

  it('refuses the same snapshot id twice', () => {
    expect(refusal(() => applyRetention([...rows, ...rows], { keepLast: 1 }, options))).toContain('snapshot a is listed twice');
  });
});
