/**
 * POSIX ACLs as the kernel stores them in system.posix_acl_access/default (a version-2
 * header, then 8-byte entries: tag u16, perm u16, id u32, little-endian), turned into the
 * short text form (`user:1234:rw-,...`) that GNU tar's `--acls` reads from SCHILY.acl.*.
 */
const TAGS: Record<number, string> = { 0x01: 'user', 0x02: 'user', 0x04: 'group', 0x08: 'group', 0x10: 'mask', 0x20: 'other' };
const QUALIFIED = new Set([0x02, 0x08]);

/** The text form of a binary ACL, or undefined if it is not one this code knows. */
export function aclText(value: Buffer): string | undefined {
  if (value.length < 4 || (value.length - 4) % 8 !== 0 || value.readUInt32LE(0) !== 2) return undefined;
  const parts: string[] = [];
  for (let at = 4; at < value.length; at += 8) {
    const tag = value.readUInt16LE(at);
    const perm = value.readUInt16LE(at + 2);
    const name = TAGS[tag];
    if (name === undefined) return undefined;
    const id = QUALIFIED.has(tag) ? String(value.readUInt32LE(at + 4)) : '';
    parts.push(`${name}:${id}:${perm & 4 ? 'r' : '-'}${perm & 2 ? 'w' : '-'}${perm & 1 ? 'x' : '-'}`);
  }
  return parts.join(',');
}
