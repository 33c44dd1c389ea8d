/**
 * Test support for the CLI tests: runs the built `ferry` as a real child process and
 * builds/compares real directory trees. Not a test itself (excluded from the build).
 */
import { mkdtemp, readdir, readFile, readlink, rm, lstat, mkdir, writeFile, symlink, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(packageDir, 'dist', 'main.js');

export interface FerryRun {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: string;
  /** stdout as text. */
  readonly out: string;
}

export interface FerryRunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly input?: Buffer | string;
  /** Run as this uid/gid (via setpriv); used to make chmod 000 bite when tests run as root. */
  readonly asUser?: number;
}

/** Fails early, with the fix, when dist/ is missing or a source is newer than its output. */
export async function assertBuilt(): Promise<void> {
  const fix = 'run "npx tsc -b packages/cli/tsconfig.json" first';
  if ((await stat(CLI).catch(() => undefined)) === undefined) throw new Error(`${CLI} is missing: ${fix}`);
  for (const name of await readdir(join(packageDir, 'src'), { recursive: true })) {
    if (!name.endsWith('.ts') || name.endsWith('.test.ts') || name.endsWith('.fixture.ts')) continue;
    const source = await stat(join(packageDir, 'src', name));
    // tsc -b rewrites only the outputs whose source changed, so compare pairwise.
    const output = await stat(join(packageDir, 'dist', name.replace(/\.ts$/, '.js'))).catch(() => undefined);
    if (output === undefined || source.mtimeMs > output.mtimeMs) {
      throw new Error(`packages/cli/dist/${name.replace(/\.ts$/, '.js')} is older than src/${name}: ${fix}`);
    }
  }
}

export async function ferry(args: readonly string[], options: FerryRunOptions = {}): Promise<FerryRun> {
  const command = options.asUser !== undefined ? 'setpriv' : process.execPath;
  const prefix =
    options.asUser !== undefined
      ? [`--reuid=${options.asUser}`, `--regid=${options.asUser}`, '--clear-groups', process.execPath, CLI]
      : [CLI];
  const result = await execa(command, [...prefix, ...args], {
    reject: false,
    stripFinalNewline: false,
    encoding: 'buffer',
    env: { FERRY_REPOSITORY: undefined, FERRY_PASSWORD: undefined, FERRY_DEBUG: undefined, ...options.env },
    extendEnv: true,
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
    timeout: 120_000,
  });
  const stdout = Buffer.from(result.stdout);
  return { exitCode: result.exitCode ?? -1, stdout, out: stdout.toString('utf8'), stderr: Buffer.from(result.stderr).toString('utf8') };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `ferry-cli-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Deterministic bytes (xorshift), so failures reproduce. */
export function pseudoRandom(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A small tree with nested dirs, an empty dir, a symlink, an empty file and a 3 MiB file. */
export async function makeSampleTree(root: string): Promise<void> {
  await mkdir(join(root, 'docs', 'deep', 'deeper'), { recursive: true });
  await mkdir(join(root, 'empty'));
  await writeFile(join(root, 'hello.txt'), 'hello, ferry\n');
  await writeFile(join(root, 'empty.bin'), '');
  await writeFile(join(root, 'big.bin'), pseudoRandom(3 * 1024 * 1024 + 17, 7));
  await writeFile(join(root, 'docs', 'a.md'), '# a\n'.repeat(1000));
  await writeFile(join(root, 'docs', 'deep', 'deeper', 'b.log'), 'log line\n'.repeat(50));
  await writeFile(join(root, 'docs', 'deep', 'c.txt'), pseudoRandom(70_000, 3));
  await symlink('docs/a.md', join(root, 'link-to-a'));
}

/** Every entry of a tree: relative path -> kind plus content (files) or target (links). */
export async function snapshotTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(full);
      if (st.isDirectory()) {
        out.set(path, `dir ${(st.mode & 0o7777).toString(8)}`);
        await visit(full, path);
      } else if (st.isSymbolicLink()) {
        out.set(path, `symlink -> ${await readlink(full)}`);
      } else {
        const data = await readFile(full);
        out.set(path, `file ${(st.mode & 0o7777).toString(8)} ${data.toString('base64')}`);
      }
    }
  };
  await visit(root, '');
  return out;
}
