/**
 * FAKE Kubernetes API server (test support, never shipped): label selectors (string form:
 * =, ==, !=, in, notin, exists, !exists; object form: matchLabels/matchExpressions) and
 * field selectors (=, ==, != on an allow-listed set of fields), with kube-apiserver's errors.
 */
import { badRequest } from './errors.js';
import type { ResourceType } from './resources.js';

type Labels = Record<string, string>;

export type Requirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

export type Selector = (labels: Labels) => boolean;

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  return key;
}

function checkValues(values: string[], selector: string): string[] {
  for (const v of values) {
    if (!VALUE.test(v) || v.length > 63) throw badRequest(`unable to parse requirement: invalid label value "${v}" in selector "${selector}"`);
  }
  return values;
}

function parseTerm(term: string, selector: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim());
    return { key: checkKey(set[1]!, selector), op: set[2] as 'in' | 'notin', values: checkValues(values, selector) };
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (eq) {
    const op = eq[2] === '!=' ? 'notin' : 'in';
    return { key: checkKey(eq[1]!, selector), op, values: checkValues([eq[3]!], selector) };
  }
  if (term.startsWith('!')) return { key: checkKey(term.slice(1).trim(), selector), op: 'notexists' };
  return { key: checkKey(term, selector), op: 'exists' };
}

export function matchRequirement(r: Requirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.op) {
    case 'exists':
      return has;
    case 'notexists':
      return !has;
    case 'in':
      return has && r.values.includes(labels[r.key]!);
    case 'notin':
      return !has || !r.values.includes(labels[r.key]!);
  }
}

function allOf(reqs: Requirement[]): Selector {
  return (labels) => reqs.every((r) => matchRequirement(r, labels));
}

/** Parses `?labelSelector=`; an empty selector matches everything. */
export function parseLabelSelector(text: string | null | undefined): Selector {
  if (!text) return () => true;
  return allOf(splitTerms(text).map((t) => parseTerm(t, text)));
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

const OPERATORS: Record<string, Requirement['op']> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: 'notexists' };

/** The metav1.LabelSelector object form (webhook namespaceSelector/objectSelector). */
export function labelSelectorFromObject(sel: LabelSelectorObject | undefined): Selector {
  if (!sel) return () => true;
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({ key, op: 'in', values: [v] }));
  for (const e of sel.matchExpressions ?? []) {
    const op = OPERATORS[e.operator];
    if (!op) throw badRequest(`${e.operator} is not a valid label selector operator`);
    reqs.push(op === 'in' || op === 'notin' ? { key: e.key, op, values: e.values ?? [] } : { key: e.key, op });
  }
  return allOf(reqs);
}

export type FieldSelector = (obj: Record<string, unknown>) => boolean;

function fieldValue(obj: Record<string, unknown>, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'string' ? cur : String(cur);
}

/** Parses `?fieldSelector=` for one resource type; unknown fields are a 400 like the real server. */
export function parseFieldSelector(text: string | null | undefined, rt: ResourceType): FieldSelector {
  if (!text) return () => true;
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...rt.fieldLabels]);
  const tests = splitTerms(text).map((term) => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const [field, op, want] = [m[1]!.trim(), m[2]!, m[3]!.trim()];
    if (!allowed.has(field)) throw badRequest(`field label not supported: ${field}`);
    return (obj: Record<string, unknown>) => (fieldValue(obj, field) === want) === (op !== '!=');
  });
  return (obj) => tests.every((t) => t(obj));
}
