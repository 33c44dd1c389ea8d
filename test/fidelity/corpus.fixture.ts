/**
 * A generated tree with every kind of entry and metadata a restore must carry: all file
 * types, modes with set-id and sticky bits, owners, hardlink groups, odd names, times in
 * 1970 and 2100 with nanoseconds, xattrs, POSIX ACLs (setfacl) and sparse files.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, symlinkSync, linkSync, writeFileSync, writeSync, chownSync, chmodSync, lchownSync, readdirSync, lstatSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { makeSpecial, setTimes, setXattr } from '@ferry/native';

export interface CorpusOptions {
  /** Names and a symlink target that are not UTF-8 (ferry restore keeps them; a tar dump cannot carry them). */
  readonly nonUtf8Names: boolean;
}

const isRoot = process.getuid?.() === 0;
const MIB = 1024 * 1024;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s;
  };
}

function bytes(length: number, seed: number): Buffer {
  const next = rng(seed);
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 4) out.writeUInt32LE(next(), Math.min(i, length - 4));
  return out;
}

const p = (root: Buffer, ...parts: (string | Buffer)[]): Buffer => Buffer.concat([root, ...parts.flatMap((x) => [Buffer.from('/'), Buffer.from(x)])]);

function sparse(path: Buffer, size: number, data: readonly [number, Buffer][]): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const [at, buf] of data) writeSync(fd, buf, 0, buf.length, at);
  } finally {
    closeSync(fd);
  }
}

/** Builds the corpus under `root` (an existing, empty directory) and returns the number of entries. */
export function makeCorpus(rootPath: string, options: CorpusOptions): number {
  const root = Buffer.from(rootPath);
  for (const d of ['docs', 'docs/deep', 'docs/deep/er', 'private', 'shared', 'acl-dir', 'links', 'specials', 'sparse', 'times']) mkdirSync(p(root, d));
  writeFileSync(p(root, 'empty'), '');
  writeFileSync(p(root, 'docs', 'readme.txt'), 'hello ferry\n');
  writeFileSync(p(root, 'docs', 'deep', 'er', 'big.bin'), bytes(3 * MIB + 17, 1));
  // Allocated zeros in a dense file must stay allocated (this is not a hole).
  writeFileSync(p(root, 'docs', 'zeros-inside.bin'), Buffer.concat([bytes(4096, 2), Buffer.alloc(256 * 1024), bytes(4096, 3)]));
  writeFileSync(p(root, 'docs', 'setuid'), '#!/bin/sh\n');
  chmodSync(p(root, 'docs', 'setuid'), 0o4755);
  writeFileSync(p(root, 'docs', 'setgid-ro'), 'x');
  chmodSync(p(root, 'docs', 'setgid-ro'), 0o2444);
  chmodSync(p(root, 'private'), 0o700);
  writeFileSync(p(root, 'private', 'secret'), 'k');
  chmodSync(p(root, 'private', 'secret'), 0o600);
  chmodSync(p(root, 'shared'), 0o1777);

  // Odd names.
  const odd = ['new\nline', ' leading space', 'trailing space ', 'tab\tname', 'ünïcödé-日本語', '-dash', '*?[glob]', 'a'.repeat(255), 'back\\slash', '"quoted"'];
  for (const name of odd) writeFileSync(p(root, 'docs', name), name);
  if (options.nonUtf8Names) {
    writeFileSync(p(root, 'docs', Buffer.from([0x66, 0xff, 0xfe, 0x0a])), 'latin1 bytes');
    mkdirSync(p(root, Buffer.from([0xc3, 0x28])));
    symlinkSync(Buffer.from([0x78, 0xff]), p(root, 'links', 'raw-target'));
  }

  // Hardlink groups, one across directories.
  writeFileSync(p(root, 'links', 'h1'), 'three names');
  linkSync(p(root, 'links', 'h1'), p(root, 'links', 'h2'));
  linkSync(p(root, 'links', 'h1'), p(root, 'docs', 'h3'));
  writeFileSync(p(root, 'links', 'pair-a'), bytes(2 * MIB, 4));
  linkSync(p(root, 'links', 'pair-a'), p(root, 'links', 'pair-b'));
  symlinkSync('h1', p(root, 'links', 'relative'));
  symlinkSync('/etc/hostname', p(root, 'links', 'absolute'));
  symlinkSync('does/not/exist', p(root, 'links', 'dangling'));

  // Special files.
  makeSpecial(p(root, 'specials', 'fifo'), { kind: 'fifo', mode: 0o620 });
  if (isRoot) {
    makeSpecial(p(root, 'specials', 'null'), { kind: 'chardev', mode: 0o666, major: 1, minor: 3 });
    makeSpecial(p(root, 'specials', 'loop9'), { kind: 'blockdev', mode: 0o660, major: 7, minor: 9 });
  }

  // Extended attributes and ACLs.
  writeFileSync(p(root, 'docs', 'tagged'), 'with xattrs');
  setXattr(p(root, 'docs', 'tagged'), 'user.mime_type', Buffer.from('text/plain'));
  setXattr(p(root, 'docs', 'tagged'), 'user.with-nul', Buffer.from('a\0b\nc'));
  setXattr(p(root, 'docs', 'tagged'), 'user.empty', Buffer.alloc(0));
  setXattr(p(root, 'acl-dir'), 'user.on-dir', Buffer.from('dir value'));
  if (isRoot) setXattr(p(root, 'docs', 'tagged'), 'trusted.overlay', Buffer.from('y'));
  writeFileSync(p(root, 'acl-dir', 'file'), 'acl');
  execFileSync('setfacl', ['-m', 'u:1234:rw,g:2345:r,m::rw', p(root, 'acl-dir', 'file').toString()]);
  execFileSync('setfacl', ['-d', '-m', 'u:1234:rx,g::rx,o::-', p(root, 'acl-dir').toString()]);
  execFileSync('setfacl', ['-m', 'u:4321:rwx', p(root, 'acl-dir').toString()]);
  writeFileSync(p(root, 'acl-dir', 'inherits'), 'default acl applies');

  // Sparse files: a 64 MiB one with 6 bytes, data at both ends, all hole, small with a hole.
  sparse(p(root, 'sparse', 'vm.img'), 64 * MIB, [[32 * MIB, Buffer.from('6bytes')]]);
  sparse(p(root, 'sparse', 'ends'), 10 * MIB, [[0, bytes(4096, 5)], [10 * MIB - 4096, bytes(4096, 6)]]);
  sparse(p(root, 'sparse', 'all-hole'), 16 * MIB, []);
  sparse(p(root, 'sparse', 'small'), 256 * 1024, [[256 * 1024 - 1, Buffer.from('!')]]);
  sparse(p(root, 'sparse', 'tail-hole'), 8 * MIB, [[0, bytes(MIB, 7)]]);

  if (isRoot) {
    chownSync(p(root, 'docs', 'readme.txt'), 1234, 2345);
    chownSync(p(root, 'shared'), 0, 2345);
    lchownSync(p(root, 'links', 'relative'), 4321, 4321);
    chownSync(p(root, 'specials', 'fifo'), 1234, 0);
  }

  // Times last (writing into a directory moves its mtime): odd nanoseconds everywhere,
  // and the edges: the epoch, 1 ns after it, and 2100.
  const next = rng(99);
  const edges = new Map<string, bigint>([
    ['times/epoch', 0n],
    ['times/epoch+1ns', 1n],
    ['times/2100', 4_102_444_800_123_456_789n],
    ['times/dir-2100', 4_102_444_800_000_000_001n],
  ]);
  for (const name of edges.keys()) {
    if (name.includes('dir')) mkdirSync(p(root, name));
    else writeFileSync(p(root, name), name);
  }
  let entries = 0;
  const setAll = (dir: Buffer, rel: string): void => {
    for (const name of readdirSync(dir, { encoding: 'buffer' })) {
      const abs = Buffer.concat([dir, Buffer.from('/'), name]);
      const childRel = rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`;
      entries++;
      if (lstatSync(abs).isDirectory()) setAll(abs, childRel);
      const mtimeNs = edges.get(childRel) ?? 1_600_000_000_000_000_000n + BigInt(next() % 300_000_000) * 1_000_000_000n + BigInt(next() % 1_000_000_000);
      setTimes(abs, { atimeNs: mtimeNs + 12_345n, mtimeNs }, { noFollow: true });
    }
  };
  setAll(root, '');
  return entries;
}
