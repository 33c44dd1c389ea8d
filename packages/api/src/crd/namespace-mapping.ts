/**
 * Where a Restore puts a source namespace: `namespaceMapping` wins; an unmapped namespace
 * becomes `namespacePrefix + source + namespaceSuffix` (the restore API's order: the map
 * first, prefix and suffix for the rest). The patterns make a prefix start and a suffix end
 * with a letter or digit, so prefix + label + suffix is always made of label characters;
 * only its length can break the DNS-1123 label rule, which `targetNamespaceProblem` names.
 */
import { DNS1123_LABEL_PATTERN } from './common.js';

/** Lower-case letters, digits and '-', starting with a letter or digit (it starts the name). */
export const NAMESPACE_PREFIX_PATTERN = '^[a-z0-9][-a-z0-9]*$';
/** Lower-case letters, digits and '-', ending with a letter or digit (it ends the name). */
export const NAMESPACE_SUFFIX_PATTERN = '^[-a-z0-9]*[a-z0-9]$';
/** A prefix or suffix leaves at least one character of the source name within 63. */
export const NAMESPACE_AFFIX_MAX_LENGTH = 62;

export interface NamespaceRename {
  readonly namespaceMapping?: Readonly<Record<string, string>> | undefined;
  readonly namespacePrefix?: string | undefined;
  readonly namespaceSuffix?: string | undefined;
}

const LABEL = new RegExp(DNS1123_LABEL_PATTERN);

export function restoreTargetNamespace(rename: NamespaceRename, source: string): string {
  const mapped = rename.namespaceMapping?.[source];
  if (mapped !== undefined) return mapped;
  return `${rename.namespacePrefix ?? ''}${source}${rename.namespaceSuffix ?? ''}`;
}

/** Whether the Restore may put anything elsewhere than where it came from. */
export function renamesNamespaces(rename: NamespaceRename): boolean {
  return Object.keys(rename.namespaceMapping ?? {}).length > 0 || !!rename.namespacePrefix || !!rename.namespaceSuffix;
}

/** Why the target of `source` is not a namespace name, or undefined when it is. */
export function targetNamespaceProblem(rename: NamespaceRename, source: string): string | undefined {
  const target = restoreTargetNamespace(rename, source);
  if (target.length <= 63 && LABEL.test(target)) return undefined;
  const how = rename.namespaceMapping?.[source] !== undefined ? `namespaceMapping maps ${source} to it` : `namespacePrefix + ${source} + namespaceSuffix`;
  const fix = target.length > 63 ? `it has ${target.length} characters; a namespace name has at most 63: shorten namespacePrefix/namespaceSuffix or map ${source} explicitly in namespaceMapping` : 'a namespace name is lower-case letters, digits and -, starting and ending with a letter or digit';
  return `target namespace "${target}" (${how}) is not a valid DNS-1123 label: ${fix}`;
}

/** The first problem of the prefix or suffix on its own (the CRD's patterns, for API callers). */
export function affixProblem(field: 'namespacePrefix' | 'namespaceSuffix', value: string | undefined): string | undefined {
  if (!value) return undefined;
  const pattern = new RegExp(field === 'namespacePrefix' ? NAMESPACE_PREFIX_PATTERN : NAMESPACE_SUFFIX_PATTERN);
  if (value.length > NAMESPACE_AFFIX_MAX_LENGTH) return `at most ${NAMESPACE_AFFIX_MAX_LENGTH} characters`;
  if (!pattern.test(value)) return field === 'namespacePrefix' ? 'lower-case letters, digits and -, starting with a letter or digit (like "restored-")' : 'lower-case letters, digits and -, ending with a letter or digit (like "-copy")';
  return undefined;
}
