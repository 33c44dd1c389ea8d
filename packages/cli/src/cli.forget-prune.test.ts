import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './program.js';
import { assertBuilt, CLI, ferry, makeSampleTree, pseudoRandom, removeDir, snapshotTree, tempDir } from './cli.fixture.js';

const PASSWORD = 'forget and prune password';

let work: string;
let counter = 0;

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('forget');
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

interface Fixture {
  readonly repo: string;
  readonly env: Record<string, string>;
  readonly source: string;
  readonly other: string;
}

/** A repository; `source` backed up three times (tags one, two, three) and `other` once. */
async function repository(): Promise<Fixture> {
  const dir = join(work, `case-${++counter}`);
  const repo = join(dir, 'repo');
  const source = join(dir, 'data');
  const other = join(dir, 'other');
  await mkdir(source, { recursive: true });
  await mkdir(other, { recursive: true });
  await makeSampleTree(source);
  await writeFile(join(other, 'o.txt'), 'other lineage\n');
  const env = { FERRY_REPOSITORY: repo, FERRY_PASSWORD: PASSWORD };
  expect((await ferry(['init'], { env })).exitCode).toBe(0);
  for (const [i, tag] of ['one', 'two', 'three'].entries()) {
    // A new 2 MiB file each time, so that forgetting a snapshot leaves unreferenced data.
    await writeFile(join(source, 'changing.bin'), pseudoRandom(2 * 1024 * 1024, 100 + i));
    const run = await ferry(['backup', source, '--tag', tag, '--host', 'alpha'], { env });
    expect(run.exitCode).toBe(0);
  }
  expect((await ferry(['backup', other, '--host', 'alpha'], { env })).exitCode).toBe(0);
  return { repo, env, source, other };
}

async function snapshotIds(env: Record<string, string>): Promise<{ id: string; tags: string[]; paths: string[] }[]> {
  const run = await ferry(['snapshots', '--json'], { env });
  expect(run.exitCode).toBe(0);
  return jsonLines(run.out)
    .filter((l) => l['type'] === 'snapshot')
    .map((l) => ({ id: l['id'] as string, tags: l['tags'] as string[], paths: l['paths'] as string[] }));
}

async function packFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readdir(join(repo, 'data'))) for (const name of await readdir(join(repo, 'data', sub))) out.push(name);
  return out.sort();
}

async function listAll(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('ferry forget', () => {
  it('prints each group and snapshot with keep/remove and the reasons, and --dry-run removes nothing', async () => {
    const { env, repo, source, other } = await repository();
    const before = await listAll(repo);
    const run = await ferry(['forget', '--keep-last', '1', '--keep-tag', 'one', '--dry-run', '--time-zone', 'Asia/Kolkata'], { env });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const lines = run.out.trimEnd().split('\n');
    expect(lines).toContain(`host alpha:${source}: keep 2, remove 1 of 3 snapshot(s)`);
    expect(lines).toContain(`host alpha:${other}: keep 1, remove 0 of 1 snapshot(s)`);
    expect(lines.filter((l) => /^keep [0-9a-f]{8} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30 \[three\]: last snapshot$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^remove [0-9a-f]{8} .* \[two\]: no rule keeps it$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^keep [0-9a-f]{8} .* \[one\]: has tag one$/.test(l))).toHaveLength(1);
    expect(lines.at(-1)).toBe('dry run: would remove 1 snapshot(s), kept 3, in 2 group(s)');
    expect(await listAll(repo)).toEqual(before);
    expect(await snapshotIds(env)).toHaveLength(4);
  });

  it('removes what the policy does not keep, only in the chosen lineage, and reports it as JSON lines', async () => {
    const { env, source } = await repository();
    const all = await snapshotIds(env);
    const run = await ferry(['forget', '--keep-last', '1', '--host', 'alpha', '--path', source, '--json', '--time-zone', 'UTC'], { env });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const records = jsonLines(run.out);
    expect(records.filter((r) => r['type'] === 'group')).toEqual([{ type: 'group', group: `host alpha:${source}`, snapshots: 3, keep: 1 }]);
    const decisions = records.filter((r) => r['type'] === 'snapshot');
    expect(decisions.map((d) => d['action'])).toEqual(['keep', 'remove', 'remove']);
    expect(decisions[0]).toMatchObject({ tags: ['three'], reasons: ['last snapshot'] });
    const summary = records.at(-1)!;
    expect(summary).toMatchObject({ type: 'summary', command: 'forget', dryRun: false, kept: 1, groups: 1 });
    const removed = summary['removed'] as string[];
    expect(removed).toHaveLength(2);
    const left = await snapshotIds(env);
    expect(left.map((s) => s.id).sort()).toEqual(all.map((s) => s.id).filter((id) => !removed.includes(id)).sort());
    expect(left.map((s) => s.tags.join(',')).sort()).toEqual(['', 'three']);
  });

  it('draws a table on a terminal', async () => {
    const { env } = await repository();
    let out = '';
    const stdout = Object.assign(
      new Writable({
        write(chunk: Buffer, _enc, done) {
          out += chunk.toString('utf8');
          done();
        },
      }),
      { isTTY: true },
    );
    const stderr = new PassThrough();
    const code = await runCli({ args: ['forget', '--keep-daily', '1', '--dry-run', '--time-zone', 'UTC'], io: { stdin: new PassThrough(), stdout, stderr, env } });
    expect(code).toBe(0);
    expect(out).toMatch(/^Action +ID +Time \(UTC\) +Tags +Reasons$/m);
    expect(out).toMatch(/^keep +[0-9a-f]{8} +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00 +three +daily snapshot/m);
    expect(out).toMatch(/^remove +[0-9a-f]{8} .* +two +no rule keeps it$/m);
  });

  it('refuses an empty policy, a half lineage and an unknown zone, changing nothing', async () => {
    const { env, repo } = await repository();
    const before = await listAll(repo);
    const empty = await ferry(['forget'], { env });
    expect(empty.exitCode).toBe(1);
    expect(empty.stderr).toMatch(/^ferry: .*at least one keep rule/);
    const half = await ferry(['forget', '--keep-last', '1', '--host', 'alpha'], { env });
    expect(half.exitCode).toBe(1);
    expect(half.stderr).toContain('--host and --path go together');
    const zone = await ferry(['forget', '--keep-last', '1', '--time-zone', 'Mars/Olympus'], { env });
    expect(zone.exitCode).toBe(1);
    expect(zone.stderr.trim().split('\n')).toHaveLength(1);
    const badCount = await ferry(['forget', '--keep-last', 'x'], { env });
    expect(badCount.exitCode).toBe(1);
    expect(await listAll(repo)).toEqual(before);
  });

  it('--prune follows with a prune', async () => {
    const { env } = await repository();
    const run = await ferry(['forget', '--keep-last', '1', '--prune', '--json'], { env });
    expect(run.exitCode).toBe(0);
    const summary = jsonLines(run.out).at(-1)!;
    expect(summary['prune']).toMatchObject({ dryRun: false });
    expect((summary['prune'] as { packsMarked: number }).packsMarked).toBeGreaterThan(0);
  });
});

describe('ferry prune', () => {
  it('marks garbage, deletes it in a later run after --grace, and the kept snapshots still restore and check', async () => {
    const { env, repo, source } = await repository();
    expect((await ferry(['forget', '--keep-last', '1'], { env })).exitCode).toBe(0);
    const packsBefore = await packFiles(repo);

    const dry = await ferry(['prune', '--dry-run', '--grace', '0s'], { env });
    expect(dry.exitCode).toBe(0);
    expect(dry.out).toContain('dry run: nothing was changed');
    expect(dry.out).toMatch(/marked [1-9]\d* pack\(s\)/);
    expect(await packFiles(repo)).toEqual(packsBefore);
    expect(existsSync(join(repo, 'prune'))).toBe(false);

    const first = await ferry(['prune', '--grace', '0s', '--max-unused', '0%'], { env });
    expect(first.stderr).toBe('prune: looking for data that no snapshot needs\n');
    expect(first.exitCode).toBe(0);
    expect(first.out).toMatch(/^swept 0 mark\(s\)/m);
    expect(first.out).toMatch(/^marked [1-9]\d* pack\(s\) \(.+\) for deletion/m);

    const second = await ferry(['prune', '--grace', '0s', '--json'], { env });
    expect(second.exitCode).toBe(0);
    const report = jsonLines(second.out).at(-1)!;
    expect(report).toMatchObject({ type: 'summary', command: 'prune', dryRun: false, marksSwept: 1, marksPostponed: [] });
    expect(report['packsDeleted']).toBeGreaterThan(0);
    expect(report['bytesFreed']).toBeGreaterThan(2 * 1024 * 1024);
    // Repacking added a pack or two; the deleted ones are gone from data/.
    const packsAfter = await packFiles(repo);
    expect(packsAfter.filter((p) => packsBefore.includes(p)).length).toBe(packsBefore.length - (report['packsDeleted'] as number));

    const check = await ferry(['check', '--read-data'], { env });
    expect(check.out).toContain('no errors were found');
    expect(check.exitCode).toBe(0);
    const kept = (await snapshotIds(env)).find((s) => s.tags.includes('three'))!;
    const target = join(repo, '..', 'restored');
    expect((await ferry(['restore', kept.id, '--target', target], { env })).exitCode).toBe(0);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));
  });

  it('with the default grace only marks, and reports the postponed mark with its reason', async () => {
    const { env } = await repository();
    expect((await ferry(['forget', '--keep-last', '1'], { env })).exitCode).toBe(0);
    expect((await ferry(['prune'], { env })).exitCode).toBe(0);
    const again = await ferry(['prune', '--json'], { env });
    const report = jsonLines(again.out).at(-1)!;
    expect(report['marksSwept']).toBe(0);
    expect(report['packsDeleted']).toBe(0);
    const postponed = report['marksPostponed'] as { mark: string; reason: string }[];
    expect(postponed).toHaveLength(1);
    expect(postponed[0]!.reason).toContain('grace');
    const plain = await ferry(['prune'], { env });
    expect(plain.out).toMatch(/^postponed prune\/mark-[0-9a-f]+: younger than the grace period/m);
  });

  it('exits 1 naming the other prune while one holds the lock; a dead holder stops blocking once stale', async () => {
    const { env, repo, source } = await repository();
    await writeFile(join(source, 'changing.bin'), pseudoRandom(3 * 1024 * 1024, 999));
    expect((await ferry(['backup', source, '--host', 'alpha'], { env })).exitCode).toBe(0);
    expect((await ferry(['forget', '--keep-last', '1'], { env })).exitCode).toBe(0);
    // A slow prune: it downloads packs to repack them at 64 KiB/s.
    const slow = execa(process.execPath, [CLI, 'prune', '--max-unused', '0', '--limit-download', '64'], { env, reject: false });
    const lock = join(repo, 'prune', 'lock');
    for (let i = 0; i < 400 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 25));
    expect(existsSync(lock)).toBe(true);
    const busy = await ferry(['prune'], { env });
    expect(busy.exitCode).toBe(1);
    expect(busy.stderr.trim().split('\n')).toHaveLength(2);
    expect(busy.stderr).toMatch(/^prune: looking for data that no snapshot needs\nferry: another prune is running \(host .+, pid \d+, since .+\); try again later/);
    slow.kill('SIGKILL');
    await slow;
    expect(existsSync(lock)).toBe(true);
    expect((await ferry(['prune'], { env })).exitCode).toBe(1);
    const after = await ferry(['prune', '--max-unused', '0'], { env: { ...env, FERRY_STALE_SESSION_SECONDS: '0' } });
    expect(after.stderr).toBe('prune: looking for data that no snapshot needs\n');
    expect(after.exitCode).toBe(0);
    expect((await stat(lock).catch(() => undefined)) === undefined).toBe(true);
    expect((await ferry(['check', '--read-data'], { env })).exitCode).toBe(0);
    const target = join(repo, '..', 'restored-busy');
    expect((await ferry(['restore', 'latest', '--target', target], { env })).exitCode).toBe(0);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));
  });
});
