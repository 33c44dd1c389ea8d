/**
 * Go-style durations (`30s`, `5m`, `1h30m`, `1.5h`, `250ms`), the form Kubernetes users
 * know from `metav1.Duration` and from Velero/K8up annotations. Used by the annotation
 * parser and, as a pattern, by the CRD schemas (`ttl`, `timeout`, `keepWithin`).
 */

/** The schema pattern for a duration: one or more `<number><unit>` parts, or `0`. */
export const DURATION_PATTERN = '^(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$';

const PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gu;
const WHOLE = new RegExp(DURATION_PATTERN, 'u');

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export type DurationParse =
  | { readonly ok: true; readonly milliseconds: number }
  | { readonly ok: false; readonly expected: string };

export const DURATION_EXPECTED = 'a duration such as 30s, 5m, 1h30m or 250ms (units ns, us, ms, s, m, h)';

/** Parses a Go-style duration into milliseconds. Never throws. */
export function parseDuration(text: string): DurationParse {
  if (!WHOLE.test(text)) return { ok: false, expected: DURATION_EXPECTED };
  let total = 0;
  for (const m of text.matchAll(PART)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  if (!Number.isFinite(total)) return { ok: false, expected: DURATION_EXPECTED };
  return { ok: true, milliseconds: total };
}

/** Formats milliseconds the way Go prints a duration (`1h30m0s`, `250ms`), for messages and status. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds === 0) return '0s';
  if (milliseconds < 1000) return `${milliseconds}ms`;
  const hours = Math.floor(milliseconds / 3_600_000);
  const minutes = Math.floor((milliseconds % 3_600_000) / 60_000);
  const seconds = (milliseconds % 60_000) / 1000;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
