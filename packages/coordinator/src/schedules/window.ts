/**
 * Randomized start within a window: a schedule with `spec.startWindow` (or a `-random`
 * macro such as `@daily-random`) runs at its cron times plus a fixed offset in
 * [0, window). The offset is a hash of namespace/name, so it is the same on every
 * reconcile, every replica and after restarts, while 500 schedules on `@daily` spread
 * over the day instead of all starting at 00:00. A constant shift keeps the runs' spacing,
 * so no window length can make two runs overlap or swap order.
 */
import { createHash } from 'node:crypto';
import { formatDuration, parseDuration } from '@ferry/api';

const HOUR_MS = 3_600_000;

/** `@<period>-random`: the macro's cron times, spread over the whole period. */
const RANDOM_MACROS: Readonly<Record<string, { expression: string; windowMs: number }>> = {
  '@hourly-random': { expression: '@hourly', windowMs: HOUR_MS },
  '@daily-random': { expression: '@daily', windowMs: 24 * HOUR_MS },
  '@midnight-random': { expression: '@daily', windowMs: 24 * HOUR_MS },
  '@weekly-random': { expression: '@weekly', windowMs: 7 * 24 * HOUR_MS },
};

export const MAX_START_WINDOW_MS = 31 * 24 * HOUR_MS;

export interface StartWindow {
  /** The cron expression without the `-random` suffix. */
  readonly expression: string;
  /** 0: no window. */
  readonly windowMs: number;
  /** This schedule's shift of every run, in [0, windowMs), whole seconds. */
  readonly offsetMs: number;
}

export class StartWindowError extends Error {}

export interface StartWindowOptions {
  readonly namespace: string;
  readonly name: string;
  readonly schedule: string;
  readonly startWindow?: string | undefined;
}

/** The window a spec asks for; throws StartWindowError naming the field for a bad one. */
export function startWindowOf(o: StartWindowOptions): StartWindow {
  const macro = RANDOM_MACROS[o.schedule.trim().toLowerCase()];
  if (macro && o.startWindow !== undefined) throw new StartWindowError(`spec.schedule "${o.schedule}" already spreads runs over its period: remove spec.startWindow, or use "${macro.expression}" with it`);
  const windowMs = macro?.windowMs ?? windowOfField(o.startWindow);
  return { expression: macro?.expression ?? o.schedule, windowMs, offsetMs: offsetIn(windowMs, `${o.namespace}/${o.name}`) };
}

function windowOfField(value: string | undefined): number {
  if (value === undefined) return 0;
  const parsed = parseDuration(value);
  if (!parsed.ok || parsed.milliseconds < 0 || parsed.milliseconds > MAX_START_WINDOW_MS) {
    throw new StartWindowError(`spec.startWindow "${value}" is not a duration between 0s and ${MAX_START_WINDOW_MS / HOUR_MS}h (e.g. 30m, 6h): fix it`);
  }
  return parsed.milliseconds;
}

function offsetIn(windowMs: number, key: string): number {
  const seconds = Math.floor(windowMs / 1000);
  if (seconds <= 0) return 0;
  const hash = createHash('sha256').update(key).digest().readUIntBE(0, 6);
  return (hash % seconds) * 1000;
}

/** How the offset reads in a condition message. */
export function describeWindow(w: StartWindow): string {
  return w.windowMs === 0 ? '' : `, shifted by ${formatDuration(w.offsetMs)} within a ${formatDuration(w.windowMs)} start window`;
}
