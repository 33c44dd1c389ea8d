/**
 * Output of the cluster commands: `kubectl get`-style tables, ages, `-o json|yaml|name`,
 * and `kubectl describe`-style key/value blocks.
 */
import { InvalidArgumentError } from 'commander';
import { createRequire } from 'node:module';
import { formatBytes } from '../units.js';

type Yaml = typeof import('yaml');
let yamlModule: Yaml | undefined;
/** yaml is ~70 files: loaded on the first YAML output, not by every command's start-up. */
function yaml(): Yaml {
  yamlModule ??= createRequire(import.meta.url)('yaml') as Yaml;
  return yamlModule;
}

export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw new InvalidArgumentError(`expected one of ${OUTPUT_FORMATS.join(', ')}`);
}

/** Columns separated by three spaces, headers upper case, as `kubectl get` prints them. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/**
 * kubectl's age format: `45s`, `5m30s` (under 10 minutes), `42m`, `3h20m` (under 8 hours),
 * `30h`, `3d5h` (under 8 days), `120d`, `3y`. Empty or unparsable times print `<unknown>`.
 */
export function formatAge(time: string, now: Date): string {
  const then = Date.parse(time);
  if (time === '' || Number.isNaN(then)) return '<unknown>';
  return humanDuration(Math.max(0, now.getTime() - then) / 1000);
}

export function humanDuration(totalSeconds: number): string {
  const s = Math.floor(totalSeconds);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** `1.25 GiB`, `0 B` when unknown. */
export function bytesCell(bytes: number | undefined): string {
  return formatBytes(bytes ?? 0);
}

/** `done/total` with total unknown (0) shown as `-`. */
export function countCell(done: number, total: number): string {
  return total > 0 ? `${done}/${total}` : `${done}/-`;
}

/** The value of a single-object command (`describe`, `create`) in a machine format. */
export function renderObject(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : yaml().stringify(value);
}

/** A list command's items in a machine format: `{"items": [...]}` so it parses as one document. */
export function renderItems(items: readonly unknown[], format: 'json' | 'yaml'): string {
  return renderObject({ items }, format);
}

/** `kubectl describe`-style lines: aligned `Key:  value`, empty values left out. */
export function renderFields(fields: readonly (readonly [string, string | undefined])[]): string {
  const shown = fields.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}\n`).join('');
}

/** `a=b,c=d`; empty map → undefined (left out). */
export function formatMap(map: Readonly<Record<string, string>> | undefined): string | undefined {
  const entries = Object.entries(map ?? {});
  return entries.length === 0 ? undefined : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

/** The RFC 3339 time plus its age: `2026-11-23T07:00:00Z (5m ago)`. */
export function timeWithAge(time: string, now: Date): string | undefined {
  if (time === '') return undefined;
  return `${time} (${formatAge(time, now)} ago)`;
}

/** A `kubectl get` table with a leading NAMESPACE column under -A. */
export function namespacedTable<T extends { readonly namespace: string }>(
  headers: readonly string[],
  items: readonly T[],
  allNamespaces: boolean,
  row: (item: T) => string[],
): string {
  if (!allNamespaces) return renderTable(headers, items.map(row));
  return renderTable(['NAMESPACE', ...headers], items.map((item) => [item.namespace, ...row(item)]));
}
