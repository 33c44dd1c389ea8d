/**
 * Pagination over a listed set: a stable order (newest first, then namespace and name) and
 * an opaque page token (base64url) holding the sort key of the last item returned. The key,
 * not an index, so objects created or deleted between pages neither repeat nor vanish.
 */
import type { FerryObject } from '../cluster/cluster-state.js';
import { CoordinatorError } from '../errors.js';

/** [creation time (RFC 3339), namespace, name] */
type SortKey = readonly [string, string, string];

function keyOf(o: FerryObject): SortKey {
  const t = o.metadata.creationTimestamp;
  return [t instanceof Date ? t.toISOString() : (t ?? ''), o.metadata.namespace ?? '', o.metadata.name ?? ''];
}

/** Newest first; same second: namespace, then name ascending. */
function compare(a: SortKey, b: SortKey): number {
  const byTime = new Date(b[0]).getTime() - new Date(a[0]).getTime();
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a[1].localeCompare(b[1]) || a[2].localeCompare(b[2]);
}

function decode(token: string, field: string): SortKey {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'string')) return v as unknown as SortKey;
  } catch {
    // fall through: not one of our tokens
  }
  throw new CoordinatorError('InvalidArgument', `${field}: not a token from a previous response; omit it to start from the first page`);
}

export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken: string;
}

export function paginate<T extends FerryObject>(objects: readonly T[], options: { pageSize: number; pageToken: string; field?: string }): Page<T> {
  const after = options.pageToken ? decode(options.pageToken, options.field ?? 'page_token') : undefined;
  const sorted = [...objects].sort((a, b) => compare(keyOf(a), keyOf(b)));
  const rest = after ? sorted.filter((o) => compare(keyOf(o), after) > 0) : sorted;
  const items = rest.slice(0, options.pageSize);
  const last = items[items.length - 1];
  const more = rest.length > items.length && last !== undefined;
  return { items, nextPageToken: more ? Buffer.from(JSON.stringify(keyOf(last))).toString('base64url') : '' };
}
