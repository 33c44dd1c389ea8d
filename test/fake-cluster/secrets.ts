/**
 * FAKE Kubernetes API server (test support, never shipped): Secret `stringData`. The real API
 * server treats it as write-only convenience input: on create, update and patch each entry
 * is base64-encoded into `data` (overriding a `data` entry of the same key) and `stringData`
 * itself is never stored or returned.
 */
import type { ResourceType } from './resources.js';
import type { Obj } from './store.js';

export function isSecretType(rt: ResourceType): boolean {
  return rt.group === '' && rt.plural === 'secrets';
}

export function mergeStringData(obj: Obj): Obj {
  const { stringData, ...rest } = obj as Obj & { stringData?: Record<string, string> | null; data?: Record<string, string> | null };
  if (stringData === undefined) return obj;
  const data: Record<string, string> = { ...(rest.data ?? {}) };
  for (const [k, v] of Object.entries(stringData ?? {})) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  return Object.keys(data).length > 0 ? { ...rest, data } : rest;
}
