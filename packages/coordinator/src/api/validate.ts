/**
 * Request validation for the public API: every problem names the request field, so a
 * caller sees "namespace: must be a DNS-1123 label" instead of a 422 from the API server
 * after the fact. All problems of a request are reported at once.
 */
import { DNS1123_LABEL_PATTERN, DNS1123_SUBDOMAIN_PATTERN, EXCLUDE_PATH_LIMITS, PVC_ACCESS_MODES, QUANTITY_PATTERN, excludePathProblem, parseDuration, type V1alpha1LabelSelector } from '@ferry/api';
import { splitTerms } from '../cluster/label-selector.js';
import { CoordinatorError } from '../errors.js';

const LABEL = new RegExp(DNS1123_LABEL_PATTERN);
const SUBDOMAIN = new RegExp(DNS1123_SUBDOMAIN_PATTERN);
/** A label key: optional DNS prefix, then a name of at most 63 characters. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const TAG = /^[^\s,]{1,255}$/;
const QUANTITY = new RegExp(QUANTITY_PATTERN);

export interface TargetClaimFields {
  readonly claim: string;
  readonly namespace: string;
  readonly name: string;
  readonly existing: boolean;
  readonly storageClassName: string;
  readonly storage: string;
  readonly accessModes: readonly string[];
}

export class Problems {
  private readonly list: string[] = [];

  add(field: string, problem: string): void {
    this.list.push(`${field}: ${problem}`);
  }

  namespace(field: string, value: string): void {
    if (!LABEL.test(value) || value.length > 63) this.add(field, value === '' ? 'required (a namespace name)' : 'must be a DNS-1123 label (lower-case letters, digits and -, at most 63)');
  }

  name(field: string, value: string, options: { required: boolean } = { required: true }): void {
    if (value === '' && !options.required) return;
    if (!SUBDOMAIN.test(value) || value.length > 253) this.add(field, value === '' ? 'required' : 'must be a DNS-1123 subdomain (lower-case letters, digits, - and ., at most 253)');
  }

  label(field: string, value: string): void {
    if (!LABEL.test(value) || value.length > 63) this.add(field, 'must be a DNS-1123 label');
  }

  duration(field: string, value: string): void {
    if (value === '') return;
    const d = parseDuration(value);
    if (!d.ok || d.milliseconds <= 0) this.add(field, `expected a positive duration like 30m or 4h${d.ok ? '' : ` (${d.expected})`}`);
  }

  /** An RFC 3339 time (empty allowed); its epoch milliseconds, or undefined. */
  time(field: string, value: string): number | undefined {
    if (value === '') return undefined;
    const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) this.add(field, `expected an RFC 3339 time like 2030-05-01T10:00:00Z, got "${value}"`);
    return Number.isNaN(ms) ? undefined : ms;
  }

  oneOf(field: string, value: string, allowed: readonly string[]): void {
    if (value !== '' && !allowed.includes(value)) this.add(field, `must be one of ${allowed.join(', ')}`);
  }

  tags(field: string, tags: readonly string[]): void {
    tags.forEach((t, i) => TAG.test(t) || this.add(`${field}[${i}]`, 'a tag has 1-255 characters, no spaces or commas'));
  }

  excludes(field: string, patterns: readonly string[]): void {
    if (patterns.length > EXCLUDE_PATH_LIMITS.maxItems) this.add(field, `at most ${EXCLUDE_PATH_LIMITS.maxItems} patterns`);
    patterns.forEach((p, i) => {
      const problem = excludePathProblem(p);
      if (problem) this.add(`${field}[${i}]`, `expected ${problem}`);
    });
  }

  labels(field: string, labels: Readonly<Record<string, string>>): void {
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL_KEY.test(k)) this.add(`${field}[${k}]`, 'invalid label key');
      else if (!LABEL_VALUE.test(v)) this.add(`${field}[${k}]`, 'invalid label value (at most 63 letters, digits, -, _ and .)');
    }
  }

  /** Parses a kubectl label selector; undefined for empty or malformed ones (then a problem is recorded). */
  selector(field: string, value: string): V1alpha1LabelSelector | undefined {
    if (value.trim() === '') return undefined;
    const parsed = parseLabelSelector(value);
    if (typeof parsed === 'string') this.add(field, parsed);
    return typeof parsed === 'string' ? undefined : parsed;
  }

  /** A Kubernetes quantity like 10Gi (empty allowed). */
  quantity(field: string, value: string): void {
    if (value !== '' && !QUANTITY.test(value)) this.add(field, `expected a quantity like 10Gi or 500M, got "${value}"`);
  }

  /**
   * One entry of Restore.spec.targetClaims: the same rules the Restore controller applies
   * (claim `*` takes no name; an existing claim takes no class, size or access modes).
   */
  targetClaim(field: string, t: TargetClaimFields): void {
    if (t.claim !== '*') this.name(`${field}.claim`, t.claim);
    if (t.claim === '*' && t.name !== '') this.add(`${field}.name`, 'cannot be set with claim "*"; name each claim in an entry of its own');
    if (t.namespace !== '') this.namespace(`${field}.namespace`, t.namespace);
    this.name(`${field}.name`, t.name, { required: false });
    this.quantity(`${field}.storage`, t.storage);
    t.accessModes.forEach((m, i) => this.oneOf(`${field}.access_modes[${i}]`, m, PVC_ACCESS_MODES));
    if (t.existing && (t.storageClassName !== '' || t.storage !== '' || t.accessModes.length > 0)) this.add(field, 'storage_class_name, storage and access_modes are for new claims; drop them or existing');
  }

  /** Throws InvalidArgument listing every problem. */
  check(): void {
    if (this.list.length > 0) throw new CoordinatorError('InvalidArgument', this.list.join('; '));
  }
}

/** namespace + name requests (Get, Watch, Cancel, Delete, ...). */
export function checkNamed(req: { namespace: string; name: string }): void {
  const p = new Problems();
  p.namespace('namespace', req.namespace);
  p.name('name', req.name);
  p.check();
}

type Requirement = NonNullable<V1alpha1LabelSelector['matchExpressions']>[number];

/** `a=b,c!=d,e in (x,y),f notin (z),g,!h` → a LabelSelector, or what is wrong as a string. */
export function parseLabelSelector(text: string): V1alpha1LabelSelector | string {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: Requirement[] = [];
  for (const part of splitTerms(text)) {
    const r = parseRequirement(part.trim());
    if (typeof r === 'string') return r;
    if ('equals' in r) matchLabels[r.key] = r.equals;
    else matchExpressions.push(r);
  }
  return { ...(Object.keys(matchLabels).length ? { matchLabels } : {}), ...(matchExpressions.length ? { matchExpressions } : {}) };
}

function parseRequirement(part: string): Requirement | { key: string; equals: string } | string {
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '');
    return checked(set[1]!, values, { key: set[1]!, operator: set[2] === 'in' ? 'In' : 'NotIn', values });
  }
  const neq = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(part);
  if (neq) return checked(neq[1]!, [neq[2]!], { key: neq[1]!, operator: 'NotIn', values: [neq[2]!] });
  const eq = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(part);
  if (eq) return checked(eq[1]!, [eq[2]!], { key: eq[1]!, equals: eq[2]! });
  const absent = /^!\s*(\S+)$/.exec(part);
  if (absent) return checked(absent[1]!, [], { key: absent[1]!, operator: 'DoesNotExist' });
  if (/^\S+$/.test(part)) return checked(part, [], { key: part, operator: 'Exists' });
  return `cannot parse ${JSON.stringify(part)}; use key=value, key!=value, key in (a,b), key notin (a), key or !key`;
}

function checked<T>(key: string, values: readonly string[], result: T): T | string {
  if (!LABEL_KEY.test(key)) return `invalid label key ${JSON.stringify(key)}`;
  const bad = values.find((v) => !LABEL_VALUE.test(v));
  return bad === undefined ? result : `invalid label value ${JSON.stringify(bad)}`;
}

/** page_size 0 means 100; more than 1000 is refused. */
export function pageSize(value: number, problems: Problems, field = 'page_size'): number {
  if (value > 1000) problems.add(field, 'at most 1000');
  return value === 0 ? 100 : Math.min(value, 1000);
}
