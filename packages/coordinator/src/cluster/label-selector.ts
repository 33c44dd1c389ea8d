/**
 * Label selectors in the API's string form (`a=b,c!=d,e,!f,g in (x,y),h notin (z)`),
 * matched in process by the local cluster state the way the API server filters lists.
 */
import { CoordinatorError } from '../errors.js';

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

const SET = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/;
const EQUALITY = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/;
const EXISTS = /^(!?)([^\s!=(),]+)$/;

export function parseLabelSelector(selector: string): Requirement {
  const requirements = splitTerms(selector).map(parseTerm);
  return (labels) => requirements.every((r) => r(labels));
}

/** Commas separate terms except inside the parentheses of a set term. */
export function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim() !== '') terms.push(current.trim());
  return terms.filter((t) => t !== '');
}

function parseTerm(term: string): Requirement {
  const set = SET.exec(term);
  if (set) {
    const [, key = '', op, list = ''] = set;
    const values = list.split(',').map((v) => v.trim());
    return op === 'in' ? (l) => l[key] !== undefined && values.includes(l[key]!) : (l) => l[key] === undefined || !values.includes(l[key]!);
  }
  const eq = EQUALITY.exec(term);
  if (eq) {
    const [, key = '', op, value = ''] = eq;
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  const exists = EXISTS.exec(term);
  if (exists) {
    const [, not, key = ''] = exists;
    return not ? (l) => l[key] === undefined : (l) => l[key] !== undefined;
  }
  throw new CoordinatorError('InvalidArgument', `label selector term ${JSON.stringify(term)} does not parse; use key=value, key!=value, key, !key, key in (a,b) or key notin (a,b)`);
}
