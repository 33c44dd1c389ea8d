/**
 * @ferry/native: the filesystem calls Node's fs lacks and a bit-exact backup needs, and the
 * per-blob cryptography in one call each. This is the only native code in Ferry
 * (src/ferry_native.c and src/ferry_crypto.c, built from source by `npm ci`; the crypto
 * links against the OpenSSL inside Node, so no library is added).
 *
 * Contract of every call:
 * - synchronous, one syscall (or a size probe plus the call), no hidden retries;
 * - paths are strings or raw-byte Buffers (names need not be UTF-8) and are used as given,
 *   relative to the process's working directory;
 * - a failure throws an Error whose `code` is the errno name (`ENOTSUP`, `EPERM`,
 *   `ENODATA`, ...), with `errno`, `syscall` and `path` like Node's own fs errors, so a
 *   caller can turn "this filesystem cannot do that" into a per-file warning;
 * - times are nanoseconds since the epoch as bigint (negative before 1970).
 * Linux only (glibc or musl).
 */
import { createRequire } from 'node:module';

export type PathArg = string | Buffer;

interface Binding {
  utimensat(path: PathArg, atimeNs: bigint, mtimeNs: bigint, nofollow: boolean): void;
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void;
  mknod(path: PathArg, kind: number, mode: number, major: number, minor: number): void;
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  punchHole(fd: number, offset: number, length: number): void;
  llistxattr(path: PathArg): string[];
  lgetxattr(path: PathArg, name: string): Buffer;
  lsetxattr(path: PathArg, name: string, value: Buffer): void;
  gearScan(gear: Int32Array, buf: Uint8Array, from: number, to: number, mask: number, state: Int32Array): number;
  hmacSha256(key: Uint8Array, data: Uint8Array, out: Uint8Array): void;
  randomFill(buf: Uint8Array): void;
  sealBox(key: Uint8Array, salt: Uint8Array, aad: Uint8Array, head: Uint8Array, body: Uint8Array, out: Uint8Array): void;
  openBox(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, head: Uint8Array, body: Uint8Array): 0 | 1;
  openBox(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, head: Uint8Array, body: Uint8Array, idKey: Uint8Array, idOut: Uint8Array, hashIfHead: number): 0 | 1 | 2;
  entropyBits(buf: Uint8Array, n: number): number;
}

// Resolved from this file, so it works from src/ (tests) and dist/ (builds) alike.
const binding = createRequire(import.meta.url)('../build/Release/ferry_native.node') as Binding;

export interface TimesNs {
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
}

/**
 * Sets access and modification time with nanosecond precision (utimensat(2)). With
 * `noFollow` a symlink's own times are set (AT_SYMLINK_NOFOLLOW), not its target's.
 */
export function setTimes(path: PathArg, times: TimesNs, options: { readonly noFollow?: boolean } = {}): void {
  binding.utimensat(path, times.atimeNs, times.mtimeNs, options.noFollow ?? false);
}

/** Sets access and modification time of an open file with nanosecond precision (futimens(2)). */
export function setTimesFd(fd: number, times: TimesNs): void {
  binding.futimens(fd, times.atimeNs, times.mtimeNs);
}

export type SpecialKind = 'fifo' | 'chardev' | 'blockdev';
const KIND: Record<SpecialKind, number> = { fifo: 0, chardev: 1, blockdev: 2 };

export interface SpecialFile {
  readonly kind: SpecialKind;
  /** Permission bits (07777); the umask applies, as with mknod(2). */
  readonly mode: number;
  /** Device number for chardev and blockdev; ignored for a FIFO. */
  readonly major?: number;
  readonly minor?: number;
}

/**
 * Creates a FIFO or a device node (mknodat(2)); fails with EEXIST if anything is at the
 * path, never replacing it. Device nodes need CAP_MKNOD (EPERM otherwise). Sockets are not
 * offered: a socket file is only meaningful while its server listens, so restoring one
 * would create a dead name; the engine skips them with that reason.
 */
export function makeSpecial(path: PathArg, file: SpecialFile): void {
  binding.mknod(path, KIND[file.kind], file.mode, file.major ?? 0, file.minor ?? 0);
}

/** Splits a Linux dev_t (as lstat's rdev gives it) into major and minor, like glibc's major()/minor(). */
export function splitDevice(rdev: bigint): { readonly major: number; readonly minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
  return { major, minor };
}

/**
 * The offset of the first data at or after `offset` (lseek SEEK_DATA), or -1 if there is no
 * data after it. Filesystems without hole tracking report the whole file as data.
 */
export function seekData(fd: number, offset: number): number {
  return binding.seekData(fd, offset);
}

/** The offset of the first hole at or after `offset` (lseek SEEK_HOLE); end of file counts as a hole. */
export function seekHole(fd: number, offset: number): number {
  return binding.seekHole(fd, offset);
}

export interface Extent {
  readonly offset: number;
  readonly length: number;
}

/**
 * The data extents of an open file of `size` bytes, in order, found with SEEK_DATA/SEEK_HOLE
 * (the file offset moves). A filesystem that cannot seek holes (EINVAL/ENOTSUP/ENXIO at 0 on
 * some) yields one extent covering the file, so callers read everything as before.
 */
export function dataExtents(fd: number, size: number): Extent[] {
  const out: Extent[] = [];
  try {
    for (let at = 0; at < size; ) {
      const start = seekData(fd, at);
      if (start < 0 || start >= size) break;
      const end = Math.min(seekHole(fd, start), size);
      out.push({ offset: start, length: end - start });
      at = end;
    }
  } catch (err) {
    if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    return size > 0 ? [{ offset: 0, length: size }] : [];
  }
  return out;
}

/**
 * Deallocates `length` bytes at `offset` (fallocate PUNCH_HOLE|KEEP_SIZE): they read as
 * zeros afterwards and the size is unchanged. Only whole filesystem blocks are freed.
 * ENOTSUP/EOPNOTSUPP where the filesystem cannot punch.
 */
export function punchHole(fd: number, offset: number, length: number): void {
  binding.punchHole(fd, offset, length);
}

/** Names of the extended attributes of `path`, not following a symlink (llistxattr(2)). */
export function listXattrs(path: PathArg): string[] {
  return binding.llistxattr(path);
}

/**
 * Value of one extended attribute, not following a symlink (lgetxattr(2)); ENODATA if it
 * is absent. POSIX ACLs are the `system.posix_acl_access` / `system.posix_acl_default`
 * attributes in the kernel's binary form, so they travel as ordinary xattrs.
 */
export function getXattr(path: PathArg, name: string): Buffer {
  return binding.lgetxattr(path, name);
}

/**
 * Sets one extended attribute, creating or replacing it, not following a symlink
 * (lsetxattr(2)). ENOTSUP where the filesystem or namespace does not take it (e.g. user.*
 * on a symlink, trusted.* without CAP_SYS_ADMIN gives EPERM).
 */
export function setXattr(path: PathArg, name: string, value: Buffer): void {
  binding.lsetxattr(path, name, value);
}

/**
 * The content-defined chunker's rolling hash over buf[from..to): h = (h << 1) + gear[byte]
 * (uint32), starting from state[0]. Returns the index of the first byte after which
 * `(h & mask) === 0`, or -1; state[0] is left at the hash after the last byte hashed, so a
 * scan can continue in the next block. Pure computation, no syscall (the exception to this
 * package's rule): it is here because it is the one CPU loop where native code pays
 * (docs/architecture.md). Throws TypeError on wrong array types or bounds.
 */
export function gearScan(gear: Int32Array, buf: Uint8Array, from: number, to: number, mask: number, state: Int32Array): number {
  return binding.gearScan(gear, buf, from, to, mask, state);
}

/*
 * Cryptography (src/ferry_crypto.c): pure computation like gearScan, the other exception to
 * the one-syscall rule. node:crypto offers the same primitives, but per blob it cost five
 * JavaScript objects and, for AES-GCM, 64 KiB slices copied into the output. Every function
 * writes into buffers the caller allocated, so the output can be transferred between threads.
 * Wrong argument types or lengths throw TypeError; a failure inside OpenSSL throws an Error
 * with code ERR_FERRY_OPENSSL.
 */

/** HMAC-SHA-256 of `data` under `key`. */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(32);
  binding.hmacSha256(key, data, out);
  return out;
}

/** Fills `buf` with cryptographically strong random bytes (OpenSSL RAND_bytes). */
export function randomFill(buf: Uint8Array): void {
  binding.randomFill(buf);
}

export interface SealBoxArgs {
  readonly key: Uint8Array;
  readonly salt: Uint8Array;
  readonly aad: Uint8Array;
  readonly head: Uint8Array;
  readonly body: Uint8Array;
  /** Exactly 32 bytes longer than head and body together. */
  readonly out: Uint8Array;
}

/**
 * Seals head || body into out = salt(16) || AES-256-GCM ciphertext || tag(16) under the box
 * key HMAC-SHA-256(key, salt) and the all-zero 96-bit nonce (docs/repository-format.md §3).
 */
export function sealBox(a: SealBoxArgs): void {
  binding.sealBox(a.key, a.salt, a.aad, a.head, a.body, a.out);
}

export interface OpenBoxArgs {
  readonly key: Uint8Array;
  readonly aad: Uint8Array;
  readonly sealed: Uint8Array;
  /** Receives the first head.length plaintext bytes. */
  readonly head: Uint8Array;
  /** Receives the rest: head.length + body.length = sealed.length - 32. */
  readonly body: Uint8Array;
}

/**
 * Opens a box made by sealBox into head and body. Returns false when authentication fails
 * (wrong key, wrong aad, any byte changed); head and body are then zeroed, never left
 * holding unauthenticated plaintext.
 */
export function openBox(a: OpenBoxArgs): boolean {
  return binding.openBox(a.key, a.aad, a.sealed, a.head, a.body) !== 0;
}

export interface OpenBoxHashingArgs extends OpenBoxArgs {
  /** The HMAC-SHA-256 key the body is hashed under. */
  readonly idKey: Uint8Array;
  /** Receives HMAC-SHA-256(idKey, body) when the result is 'hashed'; untouched otherwise. */
  readonly idOut: Uint8Array;
  /** Hash only when the first plaintext byte (head[0]) is this value. */
  readonly hashIfHead: number;
}

/**
 * openBox that also hashes the body slice by slice as it is decrypted, while it is in cache,
 * when head[0] is `hashIfHead`: one pass over the plaintext instead of two, for a blob stored
 * raw whose id is the HMAC of its plaintext. 'failed' as openBox's false (head and body zeroed).
 */
export function openBoxHashing(a: OpenBoxHashingArgs): 'failed' | 'opened' | 'hashed' {
  const rc = binding.openBox(a.key, a.aad, a.sealed, a.head, a.body, a.idKey, a.idOut, a.hashIfHead);
  return rc === 0 ? 'failed' : rc === 1 ? 'opened' : 'hashed';
}

/** Order-0 entropy, in bits per byte (0-8), of the first `n` bytes of `buf`. */
export function entropyBits(buf: Uint8Array, n: number): number {
  return binding.entropyBits(buf, n);
}
