/**
 * Five-field cron (minute hour day-of-month month day-of-week) read in an IANA time zone.
 *
 * Syntax: `*`, numbers, ranges `a-b`, steps `*​/n`, `a-b/n` and `a/n` (= `a-max/n`), lists
 * `x,y,z`; month names JAN–DEC and day names SUN–SAT (any case); day-of-week 0 and 7 are
 * Sunday; macros @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually.
 * Day matching is Vixie cron's: when both day-of-month and day-of-week are restricted
 * (neither field starts with `*`), a day matches if either does; otherwise both must.
 *
 * Daylight-saving time (docs/schedules.md): a wall time that does not exist (spring
 * forward) runs once, at the first instant after the gap; a wall time that happens twice
 * (fall back) runs once, at its first occurrence. Several wall times in one gap collapse
 * into that one run.
 *
 * The search walks calendar fields (month, day, hour, minute), never minute by minute, and
 * gives up after SEARCH_YEARS, so no expression can make it loop without bound.
 */
import { CoordinatorError } from '../errors.js';
import { wallMs, Zone } from './zone.js';

export type CronField = 'minute' | 'hour' | 'day-of-month' | 'month' | 'day-of-week';

export class CronError extends CoordinatorError {
  constructor(readonly expression: string, readonly field: CronField | 'expression', detail: string) {
    super('InvalidArgument', `cron expression ${JSON.stringify(expression)}: ${field === 'expression' ? '' : `${field} field: `}${detail}`);
  }
}

interface FieldSpec {
  readonly name: CronField;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day-of-week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

const MACROS: Readonly<Record<string, string>> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Wall-clock margin around a search start: more than any offset change, so DST never hides a run. */
const DST_MARGIN_MS = 3 * HOUR_MS;
/** Feb 29 on a given weekday can be 28 years away (and 2100 is no leap year). */
const SEARCH_YEARS = 40;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export class CronSchedule {
  private constructor(
    readonly expression: string,
    readonly zone: Zone,
    private readonly sets: readonly (readonly boolean[])[],
    /** Vixie: both day fields restricted → either matches. */
    private readonly dayEither: boolean,
  ) {}

  /** Parses `expression` for `timeZone`; throws CronError (naming the field) or ZoneError. */
  static parse(expression: string, timeZone: string): CronSchedule {
    const text = expression.trim();
    const expanded = text.startsWith('@') ? MACROS[text.toLowerCase()] : text;
    if (expanded === undefined) throw new CronError(expression, 'expression', `unknown macro ${text}; use one of ${Object.keys(MACROS).join(', ')} or five fields`);
    const parts = expanded.split(/\s+/);
    if (parts.length !== 5) throw new CronError(expression, 'expression', `has ${parts.length} field(s); write five: minute hour day-of-month month day-of-week (e.g. "30 2 * * *")`);
    const sets = FIELDS.map((f, i) => parseField(expression, f, parts[i]!));
    const dow = sets[4]!.slice();
    dow[0] = dow[0] || dow[7]!;
    const schedule = new CronSchedule(expression, new Zone(timeZone), [sets[0]!, sets[1]!, sets[2]!, sets[3]!, dow.slice(0, 7)], !parts[2]!.startsWith('*') && !parts[4]!.startsWith('*'));
    schedule.checkSatisfiable();
    return schedule;
  }

  /** The first run strictly after `after` (ms since the epoch), or undefined if none within SEARCH_YEARS. */
  next(after: number): number | undefined {
    let wall = floorMinute(this.zone.wall(after)) - this.margin(after);
    const limit = wall + SEARCH_YEARS * 366 * DAY_MS;
    for (;;) {
      const match = this.nextWall(wall, limit);
      if (match === undefined) return undefined;
      const run = this.zone.resolve(match);
      if (run > after) return run;
      wall = match + MINUTE_MS;
    }
  }

  /** The last run at or before `atOrBefore`, or undefined if none within SEARCH_YEARS. */
  previous(atOrBefore: number): number | undefined {
    let wall = floorMinute(this.zone.wall(atOrBefore)) + this.margin(atOrBefore);
    const limit = wall - SEARCH_YEARS * 366 * DAY_MS;
    for (;;) {
      const match = this.previousWall(wall, limit);
      if (match === undefined) return undefined;
      const run = this.zone.resolve(match);
      if (run <= atOrBefore) return run;
      wall = match - MINUTE_MS;
    }
  }

  /**
   * Runs in [from, to], newest first, at most `limit` of them; `more` tells whether older
   * ones in the range were left out. Walks backwards from `to`, so a long range costs no
   * more than `limit` steps.
   */
  runsBetween(from: number, to: number, limit: number): { runs: number[]; more: boolean } {
    const runs: number[] = [];
    let cursor = to;
    for (;;) {
      const run = this.previous(cursor);
      if (run === undefined || run < from) return { runs, more: false };
      if (runs.length === limit) return { runs, more: true };
      runs.push(run);
      cursor = run - 1;
    }
  }

  /** Search from DST_MARGIN_MS away only when the offset changes nearby; elsewhere wall and instant map one to one. */
  private margin(instant: number): number {
    return this.zone.offset(instant - DST_MARGIN_MS) === this.zone.offset(instant + DST_MARGIN_MS) ? 0 : DST_MARGIN_MS;
  }

  private matches(wall: number): { month: boolean; day: boolean; hour: boolean; minute: boolean } {
    const d = new Date(wall);
    const [minute, hour, dom, month, dow] = this.sets as [boolean[], boolean[], boolean[], boolean[], boolean[]];
    const domOk = dom[d.getUTCDate()]!;
    const dowOk = dow[d.getUTCDay()]!;
    return {
      month: month[d.getUTCMonth() + 1]!,
      day: this.dayEither ? domOk || dowOk : domOk && dowOk,
      hour: hour[d.getUTCHours()]!,
      minute: minute[d.getUTCMinutes()]!,
    };
  }

  /** First matching wall minute ≥ wall, jumping a whole month, day or hour when that field fails. */
  private nextWall(wall: number, limit: number): number | undefined {
    while (wall <= limit) {
      const m = this.matches(wall);
      const d = new Date(wall);
      if (!m.month) wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      else if (!m.day) wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      else if (!m.hour) wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      else if (!m.minute) wall += MINUTE_MS;
      else return wall;
    }
    return undefined;
  }

  /** Last matching wall minute ≤ wall, jumping back to the end of the previous month, day or hour. */
  private previousWall(wall: number, limit: number): number | undefined {
    while (wall >= limit) {
      const m = this.matches(wall);
      const d = new Date(wall);
      if (!m.month) wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - MINUTE_MS;
      else if (!m.day) wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - MINUTE_MS;
      else if (!m.hour) wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()) - MINUTE_MS;
      else if (!m.minute) wall -= MINUTE_MS;
      else return wall;
    }
    return undefined;
  }

  /** "30 0 31 2 *" parses but never runs: say so now rather than never running silently. */
  private checkSatisfiable(): void {
    if (this.dayEither) return;
    const [, , dom, month] = this.sets as [boolean[], boolean[], boolean[], boolean[]];
    const possible = DAYS_IN_MONTH.some((days, i) => month[i + 1] && dom.some((on, day) => on && day <= days));
    if (!possible) throw new CronError(this.expression, 'day-of-month', 'no selected month has the selected day(s), so it would never run');
    if (this.next(wallMs(2000, 1, 1, 0, 0)) === undefined) throw new CronError(this.expression, 'expression', `never runs within ${SEARCH_YEARS} years`);
  }
}

function floorMinute(wall: number): number {
  return Math.floor(wall / MINUTE_MS) * MINUTE_MS;
}

function parseField(expression: string, f: FieldSpec, text: string): boolean[] {
  const set: boolean[] = new Array<boolean>(f.max + 1).fill(false);
  const fail = (detail: string): never => {
    throw new CronError(expression, f.name, `${JSON.stringify(text)}: ${detail}`);
  };
  for (const item of text.split(',')) {
    const [range = '', stepText, extra] = item.split('/');
    if (extra !== undefined) fail(`"${item}" has more than one "/"`);
    const step = stepText === undefined ? 1 : parseNumber(stepText, undefined, fail);
    if (step < 1) fail(`step ${stepText} must be at least 1`);
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [f.min, f.max === 7 ? 6 : f.max];
    else {
      const [a = '', b, more] = range.split('-');
      if (more !== undefined) fail(`"${range}" is not a range a-b`);
      lo = parseValue(a, f, fail);
      hi = b !== undefined ? parseValue(b, f, fail) : stepText !== undefined ? f.max : lo;
      if (lo > hi) fail(`range ${range} runs backwards; write the smaller value first`);
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  return set;
}

function parseValue(text: string, f: FieldSpec, fail: (detail: string) => never): number {
  const named = f.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return named + (f.name === 'month' ? 1 : 0);
  const value = parseNumber(text, f.names, fail);
  if (value < f.min || value > f.max) fail(`${value} is out of range ${f.min}-${f.max}`);
  return value;
}

function parseNumber(text: string, names: readonly string[] | undefined, fail: (detail: string) => never): number {
  if (!/^\d{1,4}$/.test(text)) fail(`"${text}" is not a number${names ? ` or a name (${names[0]}-${names[names.length - 1]})` : ''}`);
  return Number(text);
}
