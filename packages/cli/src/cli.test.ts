import { chmod, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { extract, type Header } from 'tar-stream';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI, ferry, makeSampleTree, pseudoRandom, removeDir, snapshotTree, tempDir } from './cli.fixture.js';

const PASSWORD = 'correct horse battery staple';

let work: string;
let repo: string;
let source: string;
let env: Record<string, string>;

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('main');
  repo = join(work, 'repo');
  source = join(work, 'data');
  await mkdir(source);
  await makeSampleTree(source);
  env = { FERRY_REPOSITORY: repo, FERRY_PASSWORD: PASSWORD };
  const init = await ferry(['init'], { env });
  expect(init.stderr).toBe('');
  expect(init.exitCode).toBe(0);
  expect(init.out).toMatch(/created repository [0-9a-f]{32}/);
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

/** A snapshot of one directory holds that directory's entries at its root. */
function restoredRoot(target: string, _backedUp: string): string {
  return target;
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function backupJson(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const run = await ferry(['backup', '--json', ...args], { env: { ...env, ...extraEnv } });
  expect(run.stderr).toBe('');
  expect(run.exitCode).toBe(0);
  const summary = jsonLines(run.out).at(-1);
  expect(summary?.['type']).toBe('summary');
  return summary ?? {};
}

describe('ferry CLI against a local directory repository', () => {
  it('backs up, lists, and restores a tree byte for byte', async () => {
    const backup = await ferry(['backup', source, '--tag', 'first'], { env });
    expect(backup.stderr).toBe('');
    expect(backup.exitCode).toBe(0);
    expect(backup.out).toMatch(/snapshot [0-9a-f]{8} saved/);

    const snapshots = await ferry(['snapshots'], { env });
    expect(snapshots.exitCode).toBe(0);
    expect(snapshots.out).toContain('first');
    expect(snapshots.out).toContain(source);

    const ls = await ferry(['ls', 'latest'], { env });
    expect(ls.exitCode).toBe(0);
    const listed = ls.out.split('\n');
    for (const rel of ['hello.txt', 'docs/deep/deeper/b.log', 'link-to-a', 'empty']) {
      expect(listed.some((line) => line.endsWith(`/${rel}`))).toBe(true);
    }

    const target = join(work, 'restore-1');
    const restore = await ferry(['restore', 'latest', '--target', target], { env });
    expect(restore.stderr).toBe('');
    expect(restore.exitCode).toBe(0);
    expect(await snapshotTree(restoredRoot(target, source))).toEqual(await snapshotTree(source));
  });

  it('prints JSON lines with --json: progress, then a summary with the snapshot id and stats', async () => {
    const run = await ferry(['backup', '--json', source], { env });
    expect(run.exitCode).toBe(0);
    const lines = jsonLines(run.out);
    const summary = lines.at(-1) ?? {};
    expect(lines.slice(0, -1).every((l) => l['type'] === 'progress')).toBe(true);
    expect(lines.filter((l) => l['type'] === 'progress').length).toBeGreaterThan(0);
    expect(lines[0]).toMatchObject({ type: 'progress', op: 'backup' });
    expect(summary).toMatchObject({ type: 'summary', command: 'backup', problems: [] });
    expect(summary['snapshotId']).toMatch(/^[0-9a-f]{64}$/);
    // The second backup of unchanged data adds (almost) nothing.
    expect(summary['filesNew']).toBe(0);
    expect(summary['filesUnmodified']).toBe(6);
    expect(summary['bytesAdded'] as number).toBeLessThan(64 * 1024);

    const cat = await ferry(['cat', 'snapshot', summary['snapshotId'] as string], { env });
    expect(cat.exitCode).toBe(0);
    expect(JSON.parse(cat.out)).toMatchObject({ id: summary['snapshotId'], paths: [source] });

    const config = await ferry(['cat', 'config'], { env });
    expect(JSON.parse(config.out)).toMatchObject({ format: 'ferry-repository', version: 1 });
  });

  it('restores "latest" into an empty directory, and restores one path with --include', async () => {
    await writeFile(join(source, 'hello.txt'), 'changed after the first backup\n');
    const summary = await backupJson([source]);
    expect(summary['filesChanged']).toBe(1);

    const target = join(work, 'restore-latest');
    const run = await ferry(['restore', 'latest', '--target', target, '--json'], { env });
    expect(run.exitCode).toBe(0);
    expect(jsonLines(run.out).at(-1)).toMatchObject({ type: 'summary', command: 'restore', snapshotId: summary['snapshotId'], problems: [] });
    expect(await readFile(join(restoredRoot(target, source), 'hello.txt'), 'utf8')).toBe('changed after the first backup\n');
    expect(await snapshotTree(restoredRoot(target, source))).toEqual(await snapshotTree(source));

    const partial = join(work, 'restore-include');
    const include = 'docs/deep';
    const inc = await ferry(['restore', 'latest', '--target', partial, '--include', include], { env });
    expect(inc.exitCode).toBe(0);
    const restored = await snapshotTree(partial);
    expect([...restored.keys()].some((k) => k.endsWith('docs/deep/c.txt'))).toBe(true);
    expect([...restored.keys()].some((k) => k.endsWith('hello.txt'))).toBe(false);
  });

  it('dumps a file raw and a directory as a tar that parses back to the same tree', async () => {
    const file = await ferry(['dump', 'latest', '/big.bin'], { env });
    expect(file.exitCode).toBe(0);
    expect(file.stdout.equals(await readFile(join(source, 'big.bin')))).toBe(true);

    const dir = await ferry(['dump', 'latest', 'docs'], { env });
    expect(dir.exitCode).toBe(0);
    const entries = new Map<string, { type: string; mode: number; data: Buffer; linkname?: string | null }>();
    for await (const entry of Readable.from([dir.stdout]).pipe(extract())) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.set(entry.header.name.replace(/\/$/, ''), {
        type: entry.header.type ?? '',
        mode: entry.header.mode ?? 0,
        data: Buffer.concat(chunks),
        linkname: entry.header.linkname,
      });
    }
    const suffix = (name: string) => [...entries.entries()].find(([k]) => k.endsWith(name))?.[1];
    expect(suffix('docs/a.md')?.data.equals(await readFile(join(source, 'docs/a.md')))).toBe(true);
    expect(suffix('docs/deep/c.txt')?.data.equals(await readFile(join(source, 'docs/deep/c.txt')))).toBe(true);
    expect(suffix('docs/deep/deeper')?.type).toBe('directory');
    expect(suffix('docs/a.md')?.type).toBe('file');
    expect([...entries.keys()].some((k) => k.endsWith('hello.txt'))).toBe(false);

    // The whole snapshot: modes, nanosecond mtimes (pax) and symlinks survive.
    const all = await ferry(['dump', 'latest', '/'], { env });
    expect(all.exitCode).toBe(0);
    const headers = new Map<string, Header>();
    for await (const entry of Readable.from([all.stdout]).pipe(extract())) {
      headers.set(entry.header.name.replace(/\/$/, ''), entry.header);
      entry.resume();
    }
    const a = await lstat(join(source, 'docs/a.md'), { bigint: true });
    const aHeader = headers.get('docs/a.md') as Header & { pax?: Record<string, string> };
    expect(aHeader.mode).toBe(Number(a.mode & 0o7777n));
    expect(aHeader.pax?.['mtime']).toBe(`${a.mtimeNs / 1_000_000_000n}.${String(a.mtimeNs % 1_000_000_000n).padStart(9, '0')}`);
    expect(headers.get('link-to-a')).toMatchObject({ type: 'symlink', linkname: 'docs/a.md' });
    expect(headers.get('empty')?.type).toBe('directory');
  });

  it('backs up stdin as one named file', async () => {
    const data = pseudoRandom(2 * 1024 * 1024 + 5, 11);
    const run = await ferry(['backup', '--stdin', '--stdin-filename', 'db.dump', '--json'], { env, input: data });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const id = jsonLines(run.out).at(-1)?.['snapshotId'] as string;
    const dump = await ferry(['dump', id.slice(0, 12), 'db.dump'], { env });
    expect(dump.exitCode).toBe(0);
    expect(dump.stdout.equals(data)).toBe(true);
  });

  it('leaves out excluded paths', async () => {
    const summary = await backupJson([source, '--exclude', '*.log', '--exclude', 'empty']);
    const ls = await ferry(['ls', summary['snapshotId'] as string], { env });
    expect(ls.out).toContain('/docs/deep/c.txt');
    expect(ls.out).not.toContain('b.log');
    expect(ls.out).not.toMatch(/\/empty\n/);
  });

  it('exits 3 and names the file when a file cannot be read, but saves the rest', async () => {
    const dir = join(work, 'unreadable');
    await mkdir(dir);
    await chmod(work, 0o755);
    await chmod(dir, 0o777);
    await writeFile(join(dir, 'ok.txt'), 'readable\n');
    await writeFile(join(dir, 'secret.txt'), 'not for you\n');
    await chmod(join(dir, 'secret.txt'), 0o000);
    // root reads mode-000 files, so as root the backup runs as nobody (65534), whose
    // own repository must then be writable by it.
    const asUser = process.getuid?.() === 0 ? 65534 : undefined;
    const ownRepo = join(work, 'repo-unreadable');
    await mkdir(ownRepo, { mode: 0o777 });
    await chmod(ownRepo, 0o777);
    const userEnv = { FERRY_REPOSITORY: ownRepo, FERRY_PASSWORD: PASSWORD };
    const opts = { env: userEnv, ...(asUser !== undefined ? { asUser } : {}) };
    expect((await ferry(['init'], opts)).exitCode).toBe(0);
    const run = await ferry(['backup', '--json', dir], opts);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('secret.txt');
    const summary = jsonLines(run.out).at(-1) ?? {};
    expect(summary['problems']).toEqual([expect.objectContaining({ path: expect.stringContaining('secret.txt') })]);
    const ls = await ferry(['ls', 'latest'], opts);
    expect(ls.out).toContain('ok.txt');
  });
});

describe('ferry CLI errors', () => {
  it('stops cleanly on SIGINT with exit 130 and leaves a usable repository', async () => {
    const big = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferry-cli-sigint-'));
    try {
      for (let i = 0; i < 6; i++) await writeFile(join(big, `f${i}.bin`), pseudoRandom(64 * 1024 * 1024, 100 + i));
      const before = await ferry(['snapshots', '--json'], { env });
      const child = execa(process.execPath, [CLI, 'backup', '--json', big], { env, reject: false, stdin: 'ignore' });
      let signalled = false;
      child.stdout.on('data', (b: Buffer) => {
        if (!signalled && b.toString().includes('"progress"')) {
          signalled = true;
          child.kill('SIGINT');
        }
      });
      const result = await child;
      expect(signalled).toBe(true);
      expect(result.exitCode).toBe(130);
      expect(String(result.stderr)).toMatch(/^ferry: interrupted/);
      expect(String(result.stdout)).not.toContain('"summary"');
      const after = await ferry(['snapshots', '--json'], { env });
      expect(after.exitCode).toBe(0);
      expect(after.out).toBe(before.out);
    } finally {
      await removeDir(big);
    }
  });

  it('exits 12 with one clear line on a wrong password, never echoing it', async () => {
    const run = await ferry(['snapshots'], { env: { FERRY_REPOSITORY: repo, FERRY_PASSWORD: 'not-the-password' } });
    expect(run.exitCode).toBe(12);
    expect(run.stderr).toMatch(/^ferry: wrong password for the repository at .+\n$/);
    expect(run.stderr).toContain('repo');
    expect(run.stderr).not.toContain('not-the-password');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 10 when there is no repository', async () => {
    const missing = join(work, 'nothing-here');
    const run = await ferry(['snapshots'], { env: { FERRY_REPOSITORY: missing, FERRY_PASSWORD: PASSWORD } });
    expect(run.exitCode).toBe(10);
    expect(run.stderr).toMatch(/^ferry: no repository at .*nothing-here.*ferry init/);
  });

  it('reads the password from --password-file and refuses a second init', async () => {
    const file = join(work, 'pw');
    await writeFile(file, `${PASSWORD}\n`);
    const run = await ferry(['--repo', repo, '--password-file', file, 'init']);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^ferry: a repository already exists at /);
    const ok = await ferry(['snapshots', '--repo', repo, '--password-file', file, '--json']);
    expect(ok.exitCode).toBe(0);
    expect(jsonLines(ok.out).filter((l) => l['type'] === 'snapshot').length).toBeGreaterThan(2);
  });

  it('exits 1 with a usage hint when no password is available', async () => {
    const run = await ferry(['snapshots'], { env: { FERRY_REPOSITORY: repo } });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toBe('ferry: no password given: set FERRY_PASSWORD or pass --password-file FILE\n');
  });

  it('documents the exit codes in --help', async () => {
    const run = await ferry(['--help']);
    expect(run.exitCode).toBe(0);
    for (const code of ['0 ', '1 ', '3 ', '10 ', '12 ', '130 ']) expect(run.out).toContain(`\n  ${code}`);
  });

  it('reports an unknown snapshot without a stack trace', async () => {
    const run = await ferry(['restore', 'ffffffffff', '--target', join(work, 'never')], { env });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
    expect(run.stderr).toMatch(/^ferry: .*ffffffffff/);
    await rm(join(work, 'never'), { recursive: true, force: true });
  });
});
