/**
 * Extended attributes of one entry for a backup (POSIX ACLs included: they are the
 * system.posix_acl_* attributes). Reading never fails the entry: what cannot be read
 * or does not fit the cap is named in a per-file problem, never dropped silently.
 */
import { getXattr, listXattrs, type PathArg } from '@ferry/native';
import type { Xattr } from './api.js';

/** Total bytes of names and values stored per entry; above it the rest is left out, with a warning. */
export const XATTR_CAP_BYTES = 64 * 1024;

/** Errors that mean "this filesystem has no xattrs", which is not worth a warning. */
const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP']);

export interface XattrRead {
  readonly xattrs: Xattr[];
  readonly problems: string[];
}

/** `cap` is XATTR_CAP_BYTES but for tests (no common filesystem holds 64 KiB of attributes on one file). */
export function readXattrs(path: PathArg, cap = XATTR_CAP_BYTES): XattrRead {
  let names: string[];
  try {
    names = listXattrs(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    return { xattrs: [], problems: UNSUPPORTED.has(code) ? [] : [`extended attributes not read: ${(err as Error).message}`] };
  }
  if (names.length === 0) return { xattrs: [], problems: [] };
  const xattrs: Xattr[] = [];
  const problems: string[] = [];
  const skipped: string[] = [];
  let bytes = 0;
  for (const name of names.sort()) {
    let value: Buffer;
    try {
      value = getXattr(path, name);
    } catch (err) {
      // Removed between list and read: nothing to keep.
      if ((err as NodeJS.ErrnoException).code !== 'ENODATA') problems.push(`extended attribute ${name} not read: ${(err as Error).message}`);
      continue;
    }
    if (bytes + name.length + value.length > cap) {
      skipped.push(name);
      continue;
    }
    bytes += name.length + value.length;
    xattrs.push({ name, value });
  }
  if (skipped.length > 0) problems.push(`extended attributes ${skipped.join(', ')} not stored: more than ${cap} bytes of attributes on one file`);
  return { xattrs, problems };
}
