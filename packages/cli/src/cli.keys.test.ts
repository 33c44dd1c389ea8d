import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, ferry, makeSampleTree, removeDir, tempDir, type FerryRun } from './cli.fixture.js';

const PASSWORD = 'first password of the repo';
const NEW_PASSWORD = 'second password, from a file';
const TOKEN_PASSWORD = 'token travels with this one';
const OTHER_MACHINE = 'the other machine password';

let work: string;
let source: string;
const clusterKey = randomBytes(32);
const runs: FerryRun[] = [];

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('keys');
  source = join(work, 'data');
  await mkdir(source);
  await makeSampleTree(source);
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

async function run(args: readonly string[], env: Record<string, string>): Promise<FerryRun> {
  const result = await ferry(args, { env });
  runs.push(result);
  return result;
}

async function newRepository(name: string): Promise<{ repo: string; env: Record<string, string> }> {
  const repo = join(work, name);
  const env = { FERRY_REPOSITORY: repo, FERRY_PASSWORD: PASSWORD };
  expect((await run(['init'], env)).exitCode).toBe(0);
  expect((await run(['backup', source], env)).exitCode).toBe(0);
  return { repo, env };
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function keys(env: Record<string, string>): Promise<Record<string, unknown>[]> {
  const listed = await run(['key', 'list', '--json'], env);
  expect(listed.exitCode).toBe(0);
  return jsonLines(listed.out).filter((l) => l['type'] === 'key');
}

const opens = async (env: Record<string, string>): Promise<number> => (await run(['snapshots'], env)).exitCode;

describe('ferry key', () => {
  it('adds password and cluster-key slots, any of which opens the repository; lists, removes and changes them', async () => {
    const { repo, env } = await newRepository('slots');
    const first = await keys(env);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ kind: 'password', current: true });

    const passwordFile = join(work, 'new-password');
    await writeFile(passwordFile, `${NEW_PASSWORD}\n`);
    const added = await run(['key', 'add', '--new-password-file', passwordFile, '--label', 'ops'], env);
    expect(added.stderr).toBe('');
    expect(added.exitCode).toBe(0);
    expect(added.out).toMatch(/^added password key slot [0-9a-f]{32} \(ops\)$/m);
    expect(await opens({ FERRY_REPOSITORY: repo, FERRY_PASSWORD: NEW_PASSWORD })).toBe(0);

    // A cluster key as raw bytes in a file, then the same key as hex in a file and in the environment.
    const rawKey = join(work, 'cluster.key');
    await writeFile(rawKey, clusterKey);
    const cluster = await run(['key', 'add', '--cluster-key-file', rawKey, '--label', 'cluster-a', '--json'], env);
    expect(cluster.exitCode).toBe(0);
    const clusterSlot = jsonLines(cluster.out).at(-1)!;
    expect(clusterSlot).toMatchObject({ type: 'summary', command: 'key add', kind: 'cluster', label: 'cluster-a' });
    const hexKey = join(work, 'cluster.hex');
    await writeFile(hexKey, `${clusterKey.toString('hex')}\n`);
    expect(await opens({ FERRY_REPOSITORY: repo, FERRY_PASSWORD: '' })).not.toBe(0);
    expect((await run(['snapshots', '--cluster-key-file', hexKey], { FERRY_REPOSITORY: repo })).exitCode).toBe(0);
    expect(await opens({ FERRY_REPOSITORY: repo, FERRY_CLUSTER_KEY: clusterKey.toString('hex') })).toBe(0);
    const wrongKey = await run(['snapshots'], { FERRY_REPOSITORY: repo, FERRY_CLUSTER_KEY: randomBytes(32).toString('hex') });
    expect(wrongKey.exitCode).toBe(12);
    const badFile = join(work, 'short.key');
    await writeFile(badFile, 'abc');
    const notAKey = await run(['snapshots', '--cluster-key-file', badFile], { FERRY_REPOSITORY: repo });
    expect(notAKey.exitCode).toBe(1);
    expect(notAKey.stderr).toContain('expected exactly 32 bytes or 64 hex characters');

    const listed = await keys(env);
    expect(listed.map((k) => [k['kind'], k['label']])).toEqual([
      ['password', expect.any(String)],
      ['password', 'ops'],
      ['cluster', 'cluster-a'],
    ]);
    const human = await run(['key', 'list'], env);
    expect(human.out).toMatch(/^\* +[0-9a-f]{32} +password/m);
    expect(human.out).toContain('3 key slot(s)');

    // The slot in use and the last slot cannot be removed.
    const current = listed.find((k) => k['current'] === true)!['id'] as string;
    const self = await run(['key', 'remove', current], env);
    expect(self.exitCode).toBe(1);
    expect(self.stderr).toContain('which opened this session');
    const opsId = listed[1]!['id'] as string;
    const removed = await run(['key', 'remove', opsId.slice(0, 6)], env);
    expect(removed.exitCode).toBe(0);
    expect(removed.out).toContain(`removed key slot ${opsId}`);
    expect(await opens({ FERRY_REPOSITORY: repo, FERRY_PASSWORD: NEW_PASSWORD })).toBe(12);

    // passwd replaces the slot in use; the old password stops working.
    const changed = await run(['key', 'passwd'], { ...env, FERRY_NEW_PASSWORD: NEW_PASSWORD });
    expect(changed.exitCode).toBe(0);
    expect(changed.out).toMatch(/^changed the password: key slot [0-9a-f]{32} replaced by [0-9a-f]{32}$/m);
    expect(await opens(env)).toBe(12);
    const newEnv = { FERRY_REPOSITORY: repo, FERRY_PASSWORD: NEW_PASSWORD };
    expect(await opens(newEnv)).toBe(0);
    const clusterPasswd = await run(['key', 'passwd'], { FERRY_REPOSITORY: repo, FERRY_CLUSTER_KEY: clusterKey.toString('hex'), FERRY_NEW_PASSWORD: 'x' });
    expect(clusterPasswd.exitCode).toBe(1);
    expect(clusterPasswd.stderr).toContain('cluster key');

    // Down to one slot: removing it is refused.
    const passwordSlot = (await keys(newEnv)).find((k) => k['current'] === true)!['id'] as string;
    expect((await run(['key', 'remove', clusterSlot['id'] as string], newEnv)).exitCode).toBe(0);
    const last = await run(['key', 'remove', passwordSlot], { FERRY_REPOSITORY: repo, FERRY_PASSWORD: NEW_PASSWORD });
    expect(last.exitCode).toBe(1);
    expect(last.stderr).toMatch(/last key slot|opened this session/);
    expect(await readdir(join(repo, 'keys'))).toHaveLength(1);

    const noNew = await run(['key', 'add'], newEnv);
    expect(noNew.exitCode).toBe(1);
    expect(noNew.stderr).toContain('FERRY_NEW_PASSWORD');
  });

  it('exports a password-protected token that another machine imports for its own password or cluster key', async () => {
    const { repo, env } = await newRepository('export');
    const noPassword = await run(['key', 'export'], env);
    expect(noPassword.exitCode).toBe(1);
    expect(noPassword.stderr).toContain('FERRY_TOKEN_PASSWORD');

    const exported = await run(['key', 'export'], { ...env, FERRY_TOKEN_PASSWORD: TOKEN_PASSWORD });
    expect(exported.exitCode).toBe(0);
    const token = exported.out.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    const body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(body).toMatchObject({ kind: 'ferry-key-export', location: repo });
    expect(body['key']).toBeUndefined();
    expect(exported.stderr).toContain('ferry key import');

    // "Another machine": only the token and its own credential; the location comes from the token.
    const wrong = await run(['key', 'import', token], { FERRY_PASSWORD: OTHER_MACHINE, FERRY_TOKEN_PASSWORD: 'not it' });
    expect(wrong.exitCode).toBe(12);
    expect(wrong.stderr).toContain('wrong password for the key token');
    const imported = await run(['key', 'import', token, '--json'], { FERRY_PASSWORD: OTHER_MACHINE, FERRY_TOKEN_PASSWORD: TOKEN_PASSWORD });
    expect(imported.stderr).toBe('');
    expect(imported.exitCode).toBe(0);
    expect(jsonLines(imported.out).at(-1)).toMatchObject({ command: 'key import', kind: 'password', slot: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(await opens({ FERRY_REPOSITORY: repo, FERRY_PASSWORD: OTHER_MACHINE })).toBe(0);

    const forCluster = await run(['key', 'import', token, '--label', 'cluster-b'], { FERRY_CLUSTER_KEY: clusterKey.toString('hex'), FERRY_TOKEN_PASSWORD: TOKEN_PASSWORD });
    expect(forCluster.exitCode).toBe(0);
    expect(forCluster.out).toMatch(/^added cluster key slot [0-9a-f]{32} to repository [0-9a-f]{32} at local:/m);
    expect(await opens({ FERRY_REPOSITORY: repo, FERRY_CLUSTER_KEY: clusterKey.toString('hex') })).toBe(0);

    const garbage = await run(['key', 'import', 'not-a-token'], { FERRY_PASSWORD: OTHER_MACHINE });
    expect(garbage.exitCode).toBe(1);
    expect(garbage.stderr).toContain('not a Ferry key token');
  });

  it('refuses --include-key without --force; with --force the token carries the key and imports without a password', async () => {
    const { repo, env } = await newRepository('plain');
    const refused = await run(['key', 'export', '--include-key', '--json'], env);
    expect(refused.exitCode).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.stderr).toContain('--force');
    const forced = await run(['key', 'export', '--include-key', '--force', '--location', repo], env);
    expect(forced.exitCode).toBe(0);
    expect(forced.stderr).toContain('IN THE CLEAR');
    const token = forced.out.trim();
    const body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(typeof body['key']).toBe('string');
    const imported = await run(['key', 'import', token], { FERRY_PASSWORD: OTHER_MACHINE });
    expect(imported.exitCode).toBe(0);
    expect(await opens({ FERRY_REPOSITORY: repo, FERRY_PASSWORD: OTHER_MACHINE })).toBe(0);
  });

  it('never prints a password or a cluster key', () => {
    expect(runs.length).toBeGreaterThan(20);
    const secrets = [PASSWORD, NEW_PASSWORD, TOKEN_PASSWORD, OTHER_MACHINE, clusterKey.toString('hex'), clusterKey.toString('base64')];
    for (const r of runs) {
      for (const secret of secrets) {
        expect(r.stdout.includes(Buffer.from(secret))).toBe(false);
        expect(r.stderr).not.toContain(secret);
      }
    }
  });
});
