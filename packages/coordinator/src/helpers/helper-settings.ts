/**
 * The coordinator's helper pod settings as given on the command line: resource quantities
 * and tolerations, checked at start so a typo fails the coordinator with the flag named
 * instead of every helper pod failing later at the API server.
 */
import type { V1Toleration } from '@kubernetes/client-node';

/** What the controllers need of the settings (docs/helper-pods.md). */
export interface HelperPodConfig {
  /** The helper pod's image; the restore-wait image unless overridden. */
  readonly image: string;
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly tolerations: readonly V1Toleration[];
  /** How long a helper's claim may stay unbound before ProvisioningFailed. */
  readonly provisioningTimeoutMs: number;
}

export const HELPER_POD_DEFAULTS = { cpu: '10m', memory: '32Mi', provisioningTimeout: '5m' } as const;

// resource.Quantity's grammar, less signs: digits with an optional fraction, then a binary
// (Ki..Ei) or decimal (n, u, m, k, M, G, T, P, E) suffix or a decimal exponent.
const QUANTITY = /^(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

/** A problem with a request quantity, or undefined when it is a positive Kubernetes quantity. */
export function quantityProblem(flag: string, value: string): string | undefined {
  if (!QUANTITY.test(value)) return `--${flag} ${JSON.stringify(value)}: expected a Kubernetes quantity such as 10m, 0.5, 32Mi or 1G`;
  if (!/[1-9]/.test(value.replace(/[eE][+-]?\d+$/, ''))) return `--${flag} ${JSON.stringify(value)}: must be more than zero`;
  return undefined;
}

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
const OPERATORS = ['Exists', 'Equal'] as const;
// A label key: an optional DNS-subdomain prefix and a name of up to 63 characters.
const TAINT_KEY = /^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export type TolerationsParse = { readonly ok: true; readonly tolerations: V1Toleration[] } | { readonly ok: false; readonly problem: string };

/**
 * `[...]`: a JSON list of tolerations as in a pod spec. Otherwise a comma-separated list of
 * `key[=value][:Effect]` (kubectl taint's notation): with a value the operator is Equal,
 * without one Exists; without an effect the toleration matches every effect.
 */
export function parseTolerations(flag: string, text: string): TolerationsParse {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, tolerations: [] };
  const fail = (why: string): TolerationsParse => ({ ok: false, problem: `--${flag} ${JSON.stringify(text)}: ${why}` });
  let list: unknown[];
  if (trimmed.startsWith('[')) {
    try {
      list = JSON.parse(trimmed) as unknown[];
    } catch (err) {
      return fail(`not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(list)) return fail('expected a JSON list of tolerations');
  } else {
    const parsed = trimmed.split(',').map((s) => s.trim()).filter((s) => s !== '').map(shortToleration);
    const bad = parsed.find((p) => typeof p === 'string');
    if (bad !== undefined) return fail(bad as string);
    list = parsed;
  }
  const out: V1Toleration[] = [];
  for (const [i, t] of list.entries()) {
    const checked = checkToleration(t);
    if (typeof checked === 'string') return fail(`toleration ${i + 1}: ${checked}`);
    out.push(checked);
  }
  return { ok: true, tolerations: out };
}

function shortToleration(item: string): V1Toleration | string {
  const m = /^([^=:]*)(?:=([^:]*))?(?::(.*))?$/.exec(item);
  if (!m || m[1] === '') return `${JSON.stringify(item)} is not key[=value][:Effect]`;
  const [, key, value, effect] = m;
  return { key, operator: value === undefined ? 'Exists' : 'Equal', ...(value !== undefined ? { value } : {}), ...(effect !== undefined ? { effect } : {}) };
}

const TOLERATION_FIELDS = new Set(['key', 'operator', 'value', 'effect', 'tolerationSeconds']);

function checkToleration(t: unknown): V1Toleration | string {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return 'expected an object with key, operator, value, effect, tolerationSeconds';
  const o = t as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !TOLERATION_FIELDS.has(k));
  if (unknown) return `unknown field ${JSON.stringify(unknown)} (expected key, operator, value, effect, tolerationSeconds)`;
  const operator = o['operator'] ?? 'Equal';
  if (!OPERATORS.includes(operator as never)) return `operator ${JSON.stringify(operator)}: expected Exists or Equal`;
  if (o['key'] !== undefined && (typeof o['key'] !== 'string' || (o['key'] !== '' && !TAINT_KEY.test(o['key'])))) return `key ${JSON.stringify(o['key'])} is not a label key`;
  if ((o['key'] ?? '') === '' && operator !== 'Exists') return 'an empty key tolerates every taint and needs operator Exists';
  if (o['value'] !== undefined && typeof o['value'] !== 'string') return 'value must be a string';
  if (operator === 'Exists' && o['value']) return `operator Exists takes no value (got ${JSON.stringify(o['value'])})`;
  if (o['effect'] !== undefined && o['effect'] !== '' && !EFFECTS.includes(o['effect'] as never)) return `effect ${JSON.stringify(o['effect'])}: expected ${EFFECTS.join(', ')}`;
  const seconds = o['tolerationSeconds'];
  if (seconds !== undefined && (!Number.isInteger(seconds) || o['effect'] !== 'NoExecute')) return 'tolerationSeconds must be an integer and needs effect NoExecute';
  return o as V1Toleration;
}
