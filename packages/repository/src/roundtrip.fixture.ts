/** Test helpers for engine tests: temp dirs, a random tree maker and a tree comparer. */
import { mkdtemp, mkdir, writeFile, symlink, lstat, readdir, readFile, readlink, rm, utimes, chmod, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore, mulberry32 as prng } from '@ferry/blobstore';
import { Repository } from './repository.js';
import type { Credential } from './api.js';

export const PASSWORD: Credential = { kind: 'password', password: 'correct horse battery staple' };

export async function tempDir(prefix = 'ferry-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Per-test cleanup: `dir()` makes a temp directory and `defer()` registers any other
 * cleanup; call `cleanup()` from afterEach. Runs in reverse order of registration.
 */
export function cleanupScope(): { dir: () => Promise<string>; defer: (fn: () => Promise<void>) => void; cleanup: () => Promise<void> } {
  const pending: (() => Promise<void>)[] = [];
  return {
    dir: async () => {
      const d = await tempDir();
      pending.push(d.cleanup);
      return d.path;
    },
    defer: (fn) => pending.push(fn),
    cleanup: async () => {
      while (pending.length) await pending.pop()!();
    },
  };
}

export async function newRepository(dir: string, credential: Credential = PASSWORD): Promise<Repository> {
  const store = new LocalStore({ root: dir });
  await Repository.init({ store, credential, scryptN: 1024 });
  return Repository.open({ store, credential });
}


export function randomBytesSeeded(rand: () => number, n: number): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = (rand() * 2 ** 32) >>> 0;
  return Buffer.from(words.buffer, 0, n);
}

/** Builds a random tree with files of many sizes, nested dirs, symlinks, hardlinks and odd names. */
export async function makeRandomTree(root: string, seed: number, options: { files?: number; maxSize?: number } = {}): Promise<void> {
  const rand = prng(seed);
  const names = ['a', 'b c', 'new\nline', 'ünï', 'x'.repeat(100), '-dash', '.hidden', 'tab\tname'];
  const dirs = [root];
  for (let i = 0; i < 6; i++) {
    const d = join(dirs[(rand() * dirs.length) | 0]!, `dir-${i}-${names[i % names.length]!.slice(0, 10)}`);
    await mkdir(d, { recursive: true });
    dirs.push(d);
  }
  await mkdir(join(root, 'empty-dir'));
  const count = options.files ?? 40;
  const maxSize = options.maxSize ?? 3 * 1024 * 1024;
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const dir = dirs[(rand() * dirs.length) | 0]!;
    const path = join(dir, `${names[i % names.length]}-${i}`);
    const size = rand() < 0.3 ? (rand() * 100) | 0 : (rand() ** 3 * maxSize) | 0;
    await writeFile(path, randomBytesSeeded(rand, size));
    await chmod(path, [0o644, 0o600, 0o755, 0o4755 & 0o777][(rand() * 4) | 0]!);
    await utimes(path, 1_600_000_000 + i, 1_600_000_000 + i * 1.5);
    files.push(path);
  }
  await writeFile(join(root, 'empty-file'), '');
  await symlink('a-0', join(root, 'link-rel'));
  await symlink('/etc/passwd', join(root, 'link-abs'));
  if (files[0]) await link(files[0], join(root, 'hardlink-to-first'));
  await writeFile(Buffer.concat([Buffer.from(root + '/'), Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e])]), 'non-utf8 name');
}

export interface Entry {
  readonly type: string;
  readonly mode?: number;
  readonly mtimeMs?: number;
  readonly content?: string;
  readonly target?: string;
  readonly ino?: number;
}

/** Describes a tree for comparison: type, mode, mtime (files), content hash, link targets, hardlink groups. */
export async function describeTree(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const inodes = new Map<number, string>();
  const visit = async (dir: Buffer, rel: string): Promise<void> => {
    for (const name of (await readdir(dir, { encoding: 'buffer' })).sort(Buffer.compare)) {
      const abs = Buffer.concat([dir, Buffer.from('/'), name]);
      const r = rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`;
      const st = await lstat(abs);
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode: st.mode & 0o7777 });
        await visit(abs, r);
      } else if (st.isSymbolicLink()) {
        out.set(r, { type: 'symlink', target: (await readlink(abs, { encoding: 'buffer' })).toString('latin1') });
      } else {
        const first = st.nlink > 1 ? inodes.get(st.ino) : undefined;
        if (st.nlink > 1 && !first) inodes.set(st.ino, r);
        const content = (await readFile(abs)).toString('base64');
        out.set(r, { type: 'file', mode: st.mode & 0o7777, mtimeMs: Math.round(st.mtimeMs), content: first ? `link:${first}` : content });
      }
    }
  };
  await visit(Buffer.from(root), '');
  return out;
}
