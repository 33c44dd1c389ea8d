import { describe, expect, it } from 'vitest';
import { CronError, CronSchedule } from './cron.js';
import { ZoneError } from './zone.js';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString().replace('.000Z', 'Z'));

/** Every run in [from, to], oldest first. */
function runs(expr: string, zone: string, from: string, to: string): (string | undefined)[] {
  return CronSchedule.parse(expr, zone).runsBetween(t(from), t(to), 1000).runs.reverse().map(iso);
}

describe('cron next()', () => {
  it.each([
    // expression, zone, after, expected next
    ['*/15 * * * *', 'UTC', '2026-05-01T10:07:00Z', '2026-05-01T10:15:00Z'],
    ['0 0 * * *', 'UTC', '2026-05-01T00:00:00Z', '2026-05-02T00:00:00Z'],
    ['@hourly', 'UTC', '2026-05-01T10:00:00.001Z', '2026-05-01T11:00:00Z'],
    ['@weekly', 'UTC', '2026-05-01T10:00:00Z', '2026-05-03T00:00:00Z'],
    ['@monthly', 'UTC', '2026-05-01T10:00:00Z', '2026-06-01T00:00:00Z'],
    ['@annually', 'UTC', '2026-05-01T10:00:00Z', '2027-01-01T00:00:00Z'],
    ['@midnight', 'Europe/Berlin', '2026-05-01T10:00:00Z', '2026-05-01T22:00:00Z'],
    // Feb 29: leap years only, and 2100 is not one.
    ['0 0 29 2 *', 'UTC', '2026-01-01T00:00:00Z', '2028-02-29T00:00:00Z'],
    ['0 0 29 2 *', 'UTC', '2096-03-01T00:00:00Z', '2104-02-29T00:00:00Z'],
    // Vixie: both day fields restricted → either matches (6 March 2026 is a Friday, the 13th is too).
    ['0 12 13 * FRI', 'UTC', '2026-03-01T00:00:00Z', '2026-03-06T12:00:00Z'],
    ['0 12 13 * 1', 'UTC', '2026-03-10T00:00:00Z', '2026-03-13T12:00:00Z'],
    // A day field starting with * is unrestricted: then both must match (Fridays only).
    ['0 12 * * FRI', 'UTC', '2026-03-07T00:00:00Z', '2026-03-13T12:00:00Z'],
    ['0 12 */2 * MON', 'UTC', '2026-03-01T00:00:00Z', '2026-03-09T12:00:00Z'],
    // Steps, names, 7 = Sunday.
    ['5-20/5 */6 * * *', 'UTC', '2026-05-01T06:20:00Z', '2026-05-01T12:05:00Z'],
    ['10/20 * * * *', 'UTC', '2026-05-01T06:31:00Z', '2026-05-01T06:50:00Z'],
    ['0 9 * jan-mar Mon-Fri', 'UTC', '2026-03-31T09:00:00Z', '2027-01-01T09:00:00Z'],
    ['0 0 * * 7', 'UTC', '2026-05-01T00:00:00Z', '2026-05-03T00:00:00Z'],
    ['0 0 * * 5-7', 'UTC', '2026-05-03T00:00:00Z', '2026-05-08T00:00:00Z'],
    ['0 0 1,15 * *', 'UTC', '2026-05-02T00:00:00Z', '2026-05-15T00:00:00Z'],
  ])('%s in %s after %s → %s', (expr, zone, after, expected) => {
    expect(iso(CronSchedule.parse(expr, zone).next(t(after)))).toBe(expected);
  });
});

describe('daylight-saving time', () => {
  it('Europe/Berlin spring forward: 02:30 does not exist and runs once at 03:00 CEST', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-03-28T00:00:00Z', '2026-03-31T00:00:00Z')).toEqual(['2026-03-28T01:30:00Z', '2026-03-29T01:00:00Z', '2026-03-30T00:30:00Z']);
    // 02:00, 02:30 (in the gap) and 03:00 all land on 01:00Z: one run.
    expect(runs('*/30 * * * *', 'Europe/Berlin', '2026-03-29T00:00:00Z', '2026-03-29T02:00:00Z')).toEqual(['2026-03-29T00:00:00Z', '2026-03-29T00:30:00Z', '2026-03-29T01:00:00Z', '2026-03-29T01:30:00Z', '2026-03-29T02:00:00Z']);
  });

  it('Europe/Berlin fall back: 02:30 happens twice and runs once, in summer time', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-10-24T00:00:00Z', '2026-10-27T00:00:00Z')).toEqual(['2026-10-24T00:30:00Z', '2026-10-25T00:30:00Z', '2026-10-26T01:30:00Z']);
    expect(runs('*/30 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', '2026-10-25T02:00:00Z')).toEqual(['2026-10-24T23:30:00Z', '2026-10-25T00:00:00Z', '2026-10-25T00:30:00Z', '2026-10-25T02:00:00Z']);
    // From inside the repeated hour, the next 02:30 is tomorrow's.
    expect(iso(CronSchedule.parse('30 2 * * *', 'Europe/Berlin').next(t('2026-10-25T01:10:00Z')))).toBe('2026-10-26T01:30:00Z');
  });

  it('America/New_York both directions', () => {
    expect(runs('30 2 * * *', 'America/New_York', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z')).toEqual(['2026-03-07T07:30:00Z', '2026-03-08T07:00:00Z', '2026-03-09T06:30:00Z']);
    expect(runs('0 * * * *', 'America/New_York', '2026-11-01T04:00:00Z', '2026-11-01T08:00:00Z')).toEqual(['2026-11-01T04:00:00Z', '2026-11-01T05:00:00Z', '2026-11-01T07:00:00Z', '2026-11-01T08:00:00Z']);
    const s = CronSchedule.parse('30 1 * * *', 'America/New_York');
    expect(iso(s.next(t('2026-11-01T05:00:00Z')))).toBe('2026-11-01T05:30:00Z');
    expect(iso(s.next(t('2026-11-01T05:30:00Z')))).toBe('2026-11-02T06:30:00Z');
    expect(iso(s.previous(t('2026-11-01T06:45:00Z')))).toBe('2026-11-01T05:30:00Z');
  });

  it('Australia/Lord_Howe: the 30-minute shift', () => {
    // 4 Oct 2026, 02:00 → 02:30 (+10:30 → +11): 02:15 runs at 02:30 local.
    expect(runs('15 2 * * *', 'Australia/Lord_Howe', '2026-10-02T00:00:00Z', '2026-10-05T00:00:00Z')).toEqual(['2026-10-02T15:45:00Z', '2026-10-03T15:30:00Z', '2026-10-04T15:15:00Z']);
    // 5 Apr 2026, 02:00 → 01:30 (+11 → +10:30): 01:45 happens twice and runs at the first.
    expect(runs('45 1 * * *', 'Australia/Lord_Howe', '2026-04-03T00:00:00Z', '2026-04-06T00:00:00Z')).toEqual(['2026-04-03T14:45:00Z', '2026-04-04T14:45:00Z', '2026-04-05T15:15:00Z']);
  });
});

describe('bounds', () => {
  it('an every-minute schedule down for a year yields only the newest runs, quickly', () => {
    const s = CronSchedule.parse('* * * * *', 'Europe/Berlin');
    const started = performance.now();
    const r = s.runsBetween(t('2025-05-01T00:00:00Z'), t('2026-05-01T12:00:30Z'), 3);
    expect(performance.now() - started).toBeLessThan(200);
    expect(r.runs.map(iso)).toEqual(['2026-05-01T12:00:00Z', '2026-05-01T11:59:00Z', '2026-05-01T11:58:00Z']);
    expect(r.more).toBe(true);
    expect(s.runsBetween(t('2026-05-01T11:59:00Z'), t('2026-05-01T12:00:30Z'), 3)).toEqual({ runs: [t('2026-05-01T12:00:00Z'), t('2026-05-01T11:59:00Z')], more: false });
  });
});

describe('errors name the field', () => {
  it.each([
    ['61 * * * *', /minute field: "61": 61 is out of range 0-59/],
    ['* 24 * * *', /hour field: "24": 24 is out of range 0-23/],
    ['* * 0 * *', /day-of-month field: "0": 0 is out of range 1-31/],
    ['* * * 13 *', /month field: "13": 13 is out of range 1-12/],
    ['* * * * FRIDAY', /day-of-week field: "FRIDAY": "FRIDAY" is not a number or a name \(SUN-SAT\)/],
    ['* * * * FRI-MON', /day-of-week field: "FRI-MON": range FRI-MON runs backwards/],
    ['*/0 * * * *', /minute field: "\*\/0": step 0 must be at least 1/],
    ['* * * *', /has 4 field\(s\); write five/],
    ['@reboot', /unknown macro @reboot/],
    ['0 0 30 2 *', /day-of-month field: no selected month has the selected day/],
    ['1-2-3 * * * *', /minute field: .*is not a range/],
  ])('%s', (expr, message) => {
    const fail = () => CronSchedule.parse(expr, 'UTC');
    expect(fail).toThrow(CronError);
    expect(fail).toThrow(message);
  });

  it('an unknown time zone is a ZoneError naming it', () => {
    expect(() => CronSchedule.parse('0 0 * * *', 'Mars/Olympus_Mons')).toThrow(ZoneError);
    expect(() => CronSchedule.parse('0 0 * * *', 'Mars/Olympus_Mons')).toThrow(/time zone "Mars\/Olympus_Mons" is not a known IANA name/);
  });
});
