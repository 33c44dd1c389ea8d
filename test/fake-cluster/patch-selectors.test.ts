import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, PatchError } from './json-patch.js';
import type { Json } from './json-patch.js';
import { labelSelectorFromObject, parseLabelSelector } from './selectors.js';

describe('fake-cluster JSON patch (RFC 6902) and merge patch (RFC 7386)', () => {
  const pod: Json = { spec: { initContainers: [{ name: 'a' }] }, metadata: { annotations: { 'x/y': '1', 'm~n': '2' } } };

  it('appends with -, inserts by index, unescapes ~1 and ~0, and never mutates the input', () => {
    const out = applyJsonPatch(pod, [
      { op: 'add', path: '/spec/initContainers/-', value: { name: 'z' } },
      { op: 'add', path: '/spec/initContainers/0', value: { name: 'first' } },
      { op: 'replace', path: '/metadata/annotations/x~1y', value: 'new' },
      { op: 'remove', path: '/metadata/annotations/m~0n' },
      { op: 'test', path: '/spec/initContainers/1/name', value: 'a' },
    ]);
    expect(out).toEqual({ spec: { initContainers: [{ name: 'first' }, { name: 'a' }, { name: 'z' }] }, metadata: { annotations: { 'x/y': 'new' } } });
    expect(pod).toEqual({ spec: { initContainers: [{ name: 'a' }] }, metadata: { annotations: { 'x/y': '1', 'm~n': '2' } } });
  });

  it('fails a whole patch on a failed test, a missing parent, or an index out of range', () => {
    expect(() => applyJsonPatch(pod, [{ op: 'test', path: '/spec/initContainers/0/name', value: 'b' }])).toThrow(PatchError);
    expect(() => applyJsonPatch(pod, [{ op: 'add', path: '/status/phase', value: 'x' }])).toThrow(/missing path/);
    expect(() => applyJsonPatch(pod, [{ op: 'add', path: '/spec/initContainers/5', value: {} }])).toThrow(/out of bounds/);
    expect(() => applyJsonPatch(pod, [{ op: 'remove', path: '/metadata/nope' }])).toThrow(/nonexistent/);
  });

  it('merge patch deletes with null and replaces arrays', () => {
    expect(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null }, l: [3] })).toEqual({ a: { c: 2 }, l: [3] });
  });
});

describe('fake-cluster label selectors', () => {
  const labels = { app: 'db', tier: 'backend' };

  it('supports =, ==, !=, in, notin, exists and !exists', () => {
    const yes = ['app=db', 'app==db', 'tier!=cache', 'app in (db, web)', 'app notin (web)', 'tier', '!missing', 'app=db,tier in (backend)', ''];
    const no = ['app=web', 'app!=db', 'app in (web)', 'app notin (db,x)', 'missing', '!tier', 'missing!=x,app=web'];
    for (const s of yes) expect(parseLabelSelector(s)(labels), s).toBe(true);
    for (const s of no) expect(parseLabelSelector(s)(labels), s).toBe(false);
    expect(parseLabelSelector('missing!=x')(labels)).toBe(true);
  });

  it('rejects malformed selectors with a 400 ApiError', () => {
    expect(() => parseLabelSelector('app=(db')).toThrow(expect.objectContaining({ code: 400 }));
  });

  it('matches the object form used by webhook namespaceSelectors', () => {
    expect(labelSelectorFromObject({ matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }] })(labels)).toBe(true);
    expect(labelSelectorFromObject({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] })(labels)).toBe(false);
  });
});
