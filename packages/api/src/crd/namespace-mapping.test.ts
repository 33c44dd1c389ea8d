import { describe, expect, it } from 'vitest';
import { affixProblem, renamesNamespaces, restoreTargetNamespace, targetNamespaceProblem } from './namespace-mapping.js';

describe('restore target namespaces', () => {
  it('maps first, then prefix + name + suffix for the unmapped', () => {
    const rename = { namespaceMapping: { shop: 'shop-copy' }, namespacePrefix: 'abc-', namespaceSuffix: '-def' };
    expect(restoreTargetNamespace(rename, 'shop')).toBe('shop-copy');
    expect(restoreTargetNamespace(rename, 'kube-public')).toBe('abc-kube-public-def');
    expect(restoreTargetNamespace({}, 'shop')).toBe('shop');
    expect(restoreTargetNamespace({ namespaceSuffix: '-b' }, 'shop')).toBe('shop-b');
  });

  it('says whether anything is renamed', () => {
    expect(renamesNamespaces({})).toBe(false);
    expect(renamesNamespaces({ namespaceMapping: {}, namespacePrefix: '' })).toBe(false);
    expect(renamesNamespaces({ namespacePrefix: 'x-' })).toBe(true);
    expect(renamesNamespaces({ namespaceMapping: { a: 'b' } })).toBe(true);
  });

  it('accepts a result of exactly 63 characters and names the length, the parts and the fix beyond it', () => {
    const source = 'n'.repeat(53);
    expect(targetNamespaceProblem({ namespacePrefix: 'pre-', namespaceSuffix: '-sfx00' }, source)).toBeUndefined();
    expect(targetNamespaceProblem({ namespacePrefix: 'pre-', namespaceSuffix: '-sfx000' }, source)).toBe(
      `target namespace "pre-${source}-sfx000" (namespacePrefix + ${source} + namespaceSuffix) is not a valid DNS-1123 label: it has 64 characters; a namespace name has at most 63: shorten namespacePrefix/namespaceSuffix or map ${source} explicitly in namespaceMapping`,
    );
    // An explicit mapping is not prefixed, so it fixes a long name.
    expect(targetNamespaceProblem({ namespacePrefix: 'pre-', namespaceSuffix: '-sfx000', namespaceMapping: { [source]: 'short' } }, source)).toBeUndefined();
  });

  it('refuses a prefix that does not start, or a suffix that does not end, with a letter or digit', () => {
    expect(affixProblem('namespacePrefix', 'abc-')).toBeUndefined();
    expect(affixProblem('namespaceSuffix', '-def')).toBeUndefined();
    expect(affixProblem('namespacePrefix', '-abc')).toMatch(/starting with a letter or digit/);
    expect(affixProblem('namespaceSuffix', 'def-')).toMatch(/ending with a letter or digit/);
    expect(affixProblem('namespacePrefix', 'Abc-')).toMatch(/lower-case/);
    expect(affixProblem('namespaceSuffix', `-${'a'.repeat(62)}`)).toBe('at most 62 characters');
    expect(affixProblem('namespacePrefix', undefined)).toBeUndefined();
  });
});
