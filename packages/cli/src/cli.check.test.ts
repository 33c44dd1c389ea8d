import { copyFile, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '@ferry/blobstore';
import { Repository } from '@ferry/repository';
import { runCli } from './program.js';
import { assertBuilt, ferry, makeSampleTree, removeDir, tempDir } from './cli.fixture.js';

const PASSWORD = 'correct horse battery staple';

let work: string;
let source: string;
let counter = 0;

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('check');
  source = join(work, 'data');
  await mkdir(source);
  await makeSampleTree(source);
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

interface Repo {
  readonly dir: string;
  readonly env: Record<string, string>;
}

/** A fresh repository with two snapshots of the sample tree (damage tests need their own). */
async function backedUp(): Promise<Repo> {
  const dir = join(work, `repo-${++counter}`);
  const env = { FERRY_REPOSITORY: dir, FERRY_PASSWORD: PASSWORD };
  expect((await ferry(['init'], { env })).exitCode).toBe(0);
  for (let i = 0; i < 2; i++) {
    await writeFile(join(source, 'changing.txt'), `round ${i}\n`);
    expect((await ferry(['backup', source], { env })).exitCode).toBe(0);
  }
  return { dir, env };
}

async function packs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readdir(join(dir, 'data'))) for (const name of await readdir(join(dir, 'data', sub))) out.push(name);
  return out.sort();
}

const packPath = (dir: string, id: string): string => join(dir, 'data', id.slice(0, 2), id);

/** Where the first data blob of `path` in the latest snapshot is stored (read through the engine). */
async function locate(dir: string, path: string): Promise<{ blob: string; pack: string; offset: number; snapshots: string[] }> {
  const repo = await Repository.open({ store: new LocalStore({ root: dir }), credential: { kind: 'password', password: PASSWORD } });
  try {
    const all = await repo.listSnapshots();
    const { node } = await repo.findPath(all.at(-1)!, path);
    const blob = node!.content![0]!;
    const loc = repo.index.lookup(Buffer.from(blob, 'hex'))!;
    return { blob, pack: loc.packId!.toString('hex'), offset: loc.offset, snapshots: all.map((s) => s.id) };
  } finally {
    await repo.close();
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function expectNoStack(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toMatch(/Error:/);
}

describe('ferry check', () => {
  it('passes a clean repository: plain lines, --json lines, subsets, exit 0', async () => {
    const { dir, env } = await backedUp();
    const all = await packs(dir);

    const plain = await ferry(['check'], { env });
    expect(plain.exitCode).toBe(0);
    expect(plain.out).toMatch(/checked 2 snapshot\(s\), \d+ tree\(s\), \d+ pack\(s\)/);
    expect(plain.out).toContain('no errors were found');
    expect(plain.stderr).toContain('check: pack headers');
    expect(plain.stderr).not.toMatch(/error|warning/);

    const quiet = await ferry(['check', '-q', '--read-data'], { env });
    expect(quiet.exitCode).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.out).toBe('');

    const json = await ferry(['check', '--read-data', '--json'], { env });
    expect(json.exitCode).toBe(0);
    expect(json.stderr).toBe('');
    const lines = jsonLines(json.out);
    const summary = lines.at(-1)!;
    expect(summary).toMatchObject({ type: 'summary', command: 'check', ok: true, errors: [], warnings: [] });
    expect(summary['stats']).toMatchObject({ snapshots: 2, packs: all.length, packsRead: all.length });
    const progress = lines.slice(0, -1);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((l) => l['type'] === 'progress' && l['op'] === 'check')).toBe(true);
    expect(progress.some((l) => l['currentFile'] === 'reading data' && typeof l['bytesTotal'] === 'number')).toBe(true);

    const subset = await ferry(['check', '--read-data-subset', '1/2', '--json'], { env });
    expect(subset.exitCode).toBe(0);
    const even = all.filter((id) => parseInt(id.slice(0, 2), 16) % 2 === 0).length;
    expect(jsonLines(subset.out).at(-1)!['stats']).toMatchObject({ packsRead: even });

    const percent = await ferry(['check', '--read-data-subset', '100%', '--json'], { env });
    expect(jsonLines(percent.out).at(-1)!['stats']).toMatchObject({ packsRead: all.length });
  });

  it('refuses a malformed --read-data-subset with one line and exit 1', async () => {
    for (const bad of ['0/3', '4/3', '1/300', '0%', '150%', 'half']) {
      const run = await ferry(['check', '--read-data-subset', bad], { env: { FERRY_REPOSITORY: join(work, 'none'), FERRY_PASSWORD: PASSWORD } });
      expect(run.exitCode).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toContain('--read-data-subset');
    }
  });

  it('names the damaged blob, its pack, the file and both snapshots after a byte flips (exit 1)', async () => {
    const { dir, env } = await backedUp();
    const { blob, pack, offset, snapshots } = await locate(dir, 'big.bin');
    const bytes = await readFile(packPath(dir, pack));
    bytes[offset + 100]! ^= 0x10;
    await writeFile(packPath(dir, pack), bytes);

    expect((await ferry(['check'], { env })).exitCode).toBe(0);
    const run = await ferry(['check', '--read-data'], { env });
    expect(run.exitCode).toBe(1);
    expectNoStack(run.stderr);
    expect(run.stderr).toMatch(new RegExp(`ferry: error: data blob ${blob} in pack ${pack} is damaged`));
    for (const id of snapshots) expect(run.stderr).toContain(`affects snapshot ${id.slice(0, 8)}: /big.bin`);
    expect(run.out).toContain('1 error(s) found');

    const json = await ferry(['check', '--read-data', '--json'], { env });
    expect(json.exitCode).toBe(1);
    expect(json.stderr).toBe('');
    const summary = jsonLines(json.out).at(-1)!;
    expect(summary['ok']).toBe(false);
    expect(summary['errors']).toEqual([
      { kind: 'blob', object: blob, message: expect.stringContaining(pack) as unknown, affects: snapshots.map((s) => ({ snapshot: s, path: '/big.bin' })) },
    ]);
  });

  it('names a deleted pack and the files that need it without --read-data', async () => {
    const { dir, env } = await backedUp();
    const { pack } = await locate(dir, 'big.bin');
    await rm(packPath(dir, pack));
    const run = await ferry(['check'], { env });
    expect(run.exitCode).toBe(1);
    expectNoStack(run.stderr);
    expect(run.stderr).toContain(`ferry: error: pack data/${pack.slice(0, 2)}/${pack} is missing`);
    expect(run.stderr).toMatch(/affects snapshot [0-9a-f]{8}: \/big\.bin/);
  });

  it('reports a truncated index segment as a check error, not a stack trace', async () => {
    const { dir, env } = await backedUp();
    const [segment] = (await readdir(join(dir, 'index'))).sort();
    await truncate(join(dir, 'index', segment!), 40);
    const run = await ferry(['check'], { env });
    expect(run.exitCode).toBe(1);
    expectNoStack(run.stderr);
    expect(run.stderr).toContain(`ferry: error: index segment index/${segment} fails authentication`);
    expect(run.stderr).toContain('move it out of index/');

    const json = await ferry(['check', '--json'], { env });
    expect(json.exitCode).toBe(1);
    expect(json.stderr).toBe('');
    expect(jsonLines(json.out).at(-1)).toMatchObject({ type: 'summary', ok: false, errors: [{ kind: 'index', object: `index/${segment}` }] });
  });

  it('warns about an orphan pack and still exits 0', async () => {
    const { dir, env } = await backedUp();
    const [some] = await packs(dir);
    const orphan = randomBytes(32).toString('hex');
    await mkdir(join(dir, 'data', orphan.slice(0, 2)), { recursive: true });
    await copyFile(packPath(dir, some!), packPath(dir, orphan));
    const run = await ferry(['check', '--read-data'], { env });
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`ferry: warning: orphan pack data/${orphan.slice(0, 2)}/${orphan}`);
    expect(run.out).toContain('no errors were found, 1 warning(s)');
  });

  it('draws a progress bar on a terminal and clears it before the result', async () => {
    const { env } = await backedUp();
    let err = '';
    let out = '';
    const sink = (append: (s: string) => void): Writable =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          append(chunk.toString('utf8'));
          done();
        },
      });
    const stderr = Object.assign(sink((s) => (err += s)), { isTTY: true, columns: 120 });
    const stdout = sink((s) => (out += s));
    const code = await runCli({ args: ['check', '--read-data'], io: { stdin: new PassThrough(), stdout, stderr, env } });
    expect(code).toBe(0);
    expect(err).toMatch(/\r\x1b\[Kcheck: reading data  \[[#.]{20}\] +\d+%/);
    expect(err).toMatch(/packs/);
    expect(err.endsWith('\r\x1b[K')).toBe(true);
    expect(out).toContain('no errors were found');

    err = '';
    expect(await runCli({ args: ['check', '--read-data', '-q'], io: { stdin: new PassThrough(), stdout, stderr, env } })).toBe(0);
    expect(err).toBe('');
  });
});
