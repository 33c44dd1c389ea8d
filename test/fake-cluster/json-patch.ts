/**
 * FAKE Kubernetes API server (test support, never shipped): the patch formats the fake
 * accepts. RFC 6902 JSON Patch (add, remove, replace, move, copy, test; `-` appends; `~1`
 * and `~0` unescape) and RFC 7386 JSON Merge Patch. Both work on copies and never mutate
 * their input. Strategic merge patch is served as a merge patch (see docs/testing.md).
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: Json;
  from?: string;
}

/** A patch that cannot be applied; the API server maps it to 422/400 as kube does. */
export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer "${pointer}": must start with /`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Json[] | { [k: string]: Json };

function isContainer(v: Json | undefined): v is Container {
  return v !== null && typeof v === 'object';
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean, path: string): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`invalid array index "${token}" in ${path}`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`array index ${i} out of bounds in ${path}`);
  return i;
}

/** The parent container and last token of `path`, or an error naming the missing part. */
function locate(doc: Json, path: string): { parent: Container; key: string } {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw new PatchError('the root of the document cannot be the target here');
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(cur) ? cur[arrayIndex(cur, t, false, path)] : isContainer(cur) ? cur[t] : undefined;
    if (!isContainer(next ?? null)) throw new PatchError(`doc is missing path: "${path}"`);
    cur = next as Json;
  }
  return { parent: cur as Container, key: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  if (path === '') return doc;
  const { parent, key } = locate(doc, path);
  const v = Array.isArray(parent) ? parent[arrayIndex(parent, key, false, path)] : parent[key];
  if (v === undefined) throw new PatchError(`doc is missing path: "${path}"`);
  return v;
}

function addAt(doc: Json, path: string, value: Json): Json {
  if (path === '') return value;
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, path), 0, value);
  else parent[key] = value;
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const { parent, key } = locate(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false, path), 1);
  else if (key in parent) delete parent[key];
  else throw new PatchError(`unable to remove nonexistent key: ${key}: missing value at ${path}`);
  return doc;
}

function applyOne(doc: Json, op: PatchOperation): Json {
  switch (op.op) {
    case 'add':
      return addAt(doc, op.path, clone(requireValue(op)));
    case 'remove':
      return removeAt(doc, op.path);
    case 'replace':
      getAt(doc, op.path);
      return addAt(op.path === '' ? doc : removeAt(doc, op.path), op.path, clone(requireValue(op)));
    case 'move': {
      const v = getAt(doc, requireFrom(op));
      return addAt(removeAt(doc, requireFrom(op)), op.path, v);
    }
    case 'copy':
      return addAt(doc, op.path, clone(getAt(doc, requireFrom(op))));
    case 'test':
      if (!deepEqual(getAt(doc, op.path), requireValue(op))) throw new PatchError(`testing value ${op.path} failed`);
      return doc;
    default:
      throw new PatchError(`unexpected operation ${JSON.stringify((op as { op: unknown }).op)}`);
  }
}

function requireValue(op: PatchOperation): Json {
  if (op.value === undefined) throw new PatchError(`operation ${op.op} on ${op.path} has no value`);
  return op.value;
}

function requireFrom(op: PatchOperation): string {
  if (typeof op.from !== 'string') throw new PatchError(`operation ${op.op} on ${op.path} has no from`);
  return op.from;
}

/** Applies an RFC 6902 patch to a copy of `doc`; all or nothing. */
export function applyJsonPatch<T extends Json>(doc: T, ops: unknown): T {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be an array of operations');
  let out: Json = clone(doc);
  for (const op of ops as PatchOperation[]) {
    if (!op || typeof op !== 'object' || typeof op.path !== 'string') throw new PatchError('every operation needs op and path');
    out = applyOne(out, op);
  }
  return out as T;
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isContainer(patch) || Array.isArray(patch)) return clone(patch);
  const out: { [k: string]: Json } = isContainer(target) && !Array.isArray(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k] ?? null, v);
  }
  return out;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
