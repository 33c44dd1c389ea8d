import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeSync, lstatSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, ftruncateSync, writeSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataExtents, getXattr, listXattrs, makeSpecial, punchHole, seekData, seekHole, setTimes, setTimesFd, setXattr, splitDevice } from './index.js';

let dir: string;
beforeEach(() => {
  // /tmp is ext4 here (and in CI): xattrs, ACLs, holes and mknod all work on it.
  dir = mkdtempSync(join(tmpdir(), 'ferry-native-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;

describe('times', () => {
  it('sets nanosecond atime and mtime by path, before 1970 and after 2100 too', () => {
    const f = join(dir, 'f');
    writeFileSync(f, 'x');
    for (const mtimeNs of [1_700_000_000_123_456_789n, -86_400_000_000_001n, 4_102_444_800_999_999_999n, 0n]) {
      setTimes(f, { atimeNs: mtimeNs + 7n, mtimeNs });
      const st = lstatSync(f, { bigint: true });
      expect(st.mtimeNs).toBe(mtimeNs);
      expect(st.atimeNs).toBe(mtimeNs + 7n);
    }
  });

  it('sets a symlink\'s own times with noFollow and leaves its target alone', () => {
    const target = join(dir, 't');
    const link = join(dir, 'l');
    writeFileSync(target, 'x');
    symlinkSync('t', link);
    const before = lstatSync(target, { bigint: true }).mtimeNs;
    setTimes(Buffer.from(link), { atimeNs: 1n, mtimeNs: 1_000_000_001n }, { noFollow: true });
    expect(lstatSync(link, { bigint: true }).mtimeNs).toBe(1_000_000_001n);
    expect(lstatSync(target, { bigint: true }).mtimeNs).toBe(before);
  });

  it('sets times on an open file descriptor', () => {
    const f = join(dir, 'f');
    writeFileSync(f, 'x');
    const fd = openSync(f, 'r+');
    try {
      setTimesFd(fd, { atimeNs: 5n, mtimeNs: 123_456_789n });
    } finally {
      closeSync(fd);
    }
    expect(lstatSync(f, { bigint: true }).mtimeNs).toBe(123_456_789n);
  });

  it('throws errno-coded errors naming the path', () => {
    expect(() => setTimes(join(dir, 'missing'), { atimeNs: 0n, mtimeNs: 0n })).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'utimensat', path: join(dir, 'missing') }));
    expect(() => setTimesFd(9999, { atimeNs: 0n, mtimeNs: 0n })).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => setTimes('a\0b', { atimeNs: 0n, mtimeNs: 0n })).toThrow(/NUL/);
  });
});

describe('special files', () => {
  it('creates a FIFO with its mode and refuses to replace anything', () => {
    const p = join(dir, 'fifo');
    makeSpecial(p, { kind: 'fifo', mode: 0o640 });
    const st = lstatSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o640 & ~process.umask());
    expect(() => makeSpecial(p, { kind: 'fifo', mode: 0o600 })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  it('creates character and block devices as root, EPERM otherwise', () => {
    const c = join(dir, 'null');
    const b = join(dir, 'loop');
    const make = (): void => {
      makeSpecial(c, { kind: 'chardev', mode: 0o666, major: 1, minor: 3 });
      makeSpecial(b, { kind: 'blockdev', mode: 0o660, major: 7, minor: 300 });
    };
    if (!isRoot) {
      expect(make).toThrow(expect.objectContaining({ code: 'EPERM' }));
      return;
    }
    make();
    const cs = lstatSync(c, { bigint: true });
    expect(cs.isCharacterDevice()).toBe(true);
    expect(splitDevice(cs.rdev)).toEqual({ major: 1, minor: 3 });
    const bs = lstatSync(b, { bigint: true });
    expect(bs.isBlockDevice()).toBe(true);
    expect(splitDevice(bs.rdev)).toEqual({ major: 7, minor: 300 });
  });

  it('splits large device numbers the way glibc does', () => {
    // makedev(4095+1, 256+5) in glibc's layout: major bits 8-19 and 44-63, minor 0-7 and 20-43.
    const major = 4096n;
    const minor = 261n;
    const dev = ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    expect(splitDevice(dev)).toEqual({ major: 4096, minor: 261 });
  });
});

describe('holes', () => {
  it('finds data extents with SEEK_DATA/SEEK_HOLE and punches holes', () => {
    const f = join(dir, 'sparse');
    const fd = openSync(f, 'w+');
    try {
      const mib = 1024 * 1024;
      ftruncateSync(fd, 8 * mib);
      writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 2 * mib);
      writeSync(fd, Buffer.alloc(4096, 2), 0, 4096, 8 * mib - 4096);
      expect(seekData(fd, 0)).toBe(2 * mib);
      expect(seekHole(fd, 2 * mib)).toBe(2 * mib + 4096);
      expect(dataExtents(fd, 8 * mib)).toEqual([
        { offset: 2 * mib, length: 4096 },
        { offset: 8 * mib - 4096, length: 4096 },
      ]);
      const before = fstatSync(fd).blocks;
      punchHole(fd, 2 * mib, 4096);
      expect(fstatSync(fd).blocks).toBe(before - 8);
      expect(fstatSync(fd).size).toBe(8 * mib);
      expect(dataExtents(fd, 8 * mib)).toEqual([{ offset: 8 * mib - 4096, length: 4096 }]);
      expect(seekData(fd, 8 * mib)).toBe(-1);
      expect(() => punchHole(9999, 0, 1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      closeSync(fd);
    }
  });

  it('reports a file without holes as one extent, and an empty file as none', () => {
    const f = join(dir, 'dense');
    writeFileSync(f, 'hello');
    const fd = openSync(f, 'r');
    try {
      expect(dataExtents(fd, 5)).toEqual([{ offset: 0, length: 5 }]);
      expect(dataExtents(fd, 0)).toEqual([]);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(f, 'utf8')).toBe('hello');
  });
});

describe('extended attributes', () => {
  it('lists, reads and writes xattrs with binary values, on raw-byte paths too', () => {
    const f = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff, 0x0a, 0x41])]);
    writeFileSync(f, '');
    setXattr(f, 'user.bin', Buffer.from([0, 1, 2, 255]));
    setXattr(f, 'user.empty', Buffer.alloc(0));
    expect(listXattrs(f).sort()).toEqual(['user.bin', 'user.empty']);
    expect(getXattr(f, 'user.bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(getXattr(f, 'user.empty')).toEqual(Buffer.alloc(0));
    expect(() => getXattr(f, 'user.absent')).toThrow(expect.objectContaining({ code: 'ENODATA', syscall: 'lgetxattr' }));
  });

  it('does not follow symlinks, where user.* is refused', () => {
    const target = join(dir, 't');
    const link = join(dir, 'l');
    writeFileSync(target, '');
    symlinkSync('t', link);
    expect(listXattrs(link)).toEqual([]);
    expect(() => setXattr(link, 'user.x', Buffer.from('1'))).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(listXattrs(target)).toEqual([]);
  });

  it('carries POSIX ACLs as system.posix_acl_access', () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, '');
    writeFileSync(b, '');
    // Binary ACL: version 2, then entries of (tag u16, perm u16, id u32): USER_OBJ rw, USER 1234 r, GROUP_OBJ r, MASK r, OTHER none.
    const entry = (tag: number, perm: number, id: number): Buffer => {
      const e = Buffer.alloc(8);
      e.writeUInt16LE(tag, 0);
      e.writeUInt16LE(perm, 2);
      e.writeUInt32LE(id, 4);
      return e;
    };
    const acl = Buffer.concat([Buffer.from([2, 0, 0, 0]), entry(1, 6, 0xffffffff), entry(2, 4, 1234), entry(4, 4, 0xffffffff), entry(0x10, 4, 0xffffffff), entry(0x20, 0, 0xffffffff)]);
    setXattr(a, 'system.posix_acl_access', acl);
    expect(listXattrs(a)).toContain('system.posix_acl_access');
    setXattr(b, 'system.posix_acl_access', getXattr(a, 'system.posix_acl_access'));
    expect(getXattr(b, 'system.posix_acl_access')).toEqual(acl);
  });

  it('names the errno when a call fails', () => {
    expect(() => listXattrs(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'llistxattr' }));
    expect(() => setXattr(join(dir, 'missing'), 'user.a', Buffer.alloc(1))).toThrow(/ENOENT: .*lsetxattr/);
  });
});
