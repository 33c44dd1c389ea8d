/**
 * Wall clock ↔ instant in one IANA time zone through Intl (the runtime's tz database; no
 * dependency). A wall time is kept as "wall milliseconds": the wall clock's fields encoded
 * as if they were UTC, so calendar arithmetic is plain Date.UTC arithmetic.
 */
import { CoordinatorError } from '../errors.js';

const HOUR_MS = 3_600_000;
/** Wider than any UTC offset change (Antarctica/Troll moves 2 h), so a transition near a wall time is seen from here. */
const AROUND_MS = 24 * HOUR_MS;

export class ZoneError extends CoordinatorError {
  constructor(readonly timeZone: string) {
    super('InvalidArgument', `time zone ${JSON.stringify(timeZone)} is not a known IANA name; use one such as "UTC", "Europe/Berlin" or "America/New_York"`);
  }
}

export class Zone {
  private readonly format: Intl.DateTimeFormat;

  constructor(readonly name: string) {
    try {
      this.format = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', era: 'short', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    } catch {
      throw new ZoneError(name);
    }
  }

  /** The wall clock at `instant`, as wall milliseconds (whole seconds). */
  wall(instant: number): number {
    const f: Record<string, string> = {};
    for (const p of this.format.formatToParts(instant)) f[p.type] = p.value;
    const year = f['era'] === 'BC' ? 1 - Number(f['year']) : Number(f['year']);
    return wallMs(year, Number(f['month']), Number(f['day']), Number(f['hour']), Number(f['minute']), Number(f['second']));
  }

  /** Local time minus UTC at `instant`. */
  offset(instant: number): number {
    const whole = Math.floor(instant / 1000) * 1000;
    return this.wall(whole) - whole;
  }

  /**
   * The instant a wall time is run at: its first occurrence when the wall time happens twice
   * (fall back), and the first instant after the gap when it does not happen at all (spring
   * forward). Both rules keep the mapping non-decreasing in wall time, which the cron
   * search relies on.
   */
  resolve(wall: number): number {
    const before = this.offset(wall - AROUND_MS);
    const after = this.offset(wall + AROUND_MS);
    const hits = [...new Set([before, after])].map((o) => wall - o).filter((t) => this.wall(t) === wall);
    if (hits.length > 0) return Math.min(...hits);
    return this.transitionBetween(wall - Math.max(before, after), wall - Math.min(before, after));
  }

  /** The first instant in (lo, hi] whose offset differs from the offset at lo (binary search to the millisecond). */
  private transitionBetween(lo: number, hi: number): number {
    const start = this.offset(lo);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.offset(mid) === start) lo = mid;
      else hi = mid;
    }
    return hi;
  }
}

export function wallMs(year: number, month: number, day: number, hour: number, minute: number, second = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}
