/**
 * Bad input gets one line that names what is wrong and how to fix it, at once: a restore
 * target that cannot be created or written, a source path that does not exist, S3 without
 * credentials, and a wrong password that happens to be a common word (redacted as a
 * value, never as a substring of the prose around it).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, ferry, removeDir, tempDir } from './cli.fixture.js';

const PASSWORD = 'correct horse battery staple';
let work: string;
let repo: string;
let env: Record<string, string>;

beforeAll(async () => {
  await assertBuilt();
  work = await tempDir('bad-input');
  repo = join(work, 'repo');
  env = { FERRY_REPOSITORY: repo, FERRY_PASSWORD: PASSWORD };
  await mkdir(join(work, 'data'));
  await writeFile(join(work, 'data', 'file'), 'data');
  expect((await ferry(['init'], { env })).exitCode).toBe(0);
  expect((await ferry(['backup', join(work, 'data')], { env })).exitCode).toBe(0);
});

afterAll(async () => {
  if (work !== undefined) await removeDir(work);
});

describe('bad input', () => {
  it('restore into a target that cannot be created fails at once with the path and the reason', async () => {
    const started = Date.now();
    const r = await ferry(['restore', 'latest', '--target', '/proc/ferry-no-such-dir'], { env });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^ferry: cannot create restore target \/proc\/ferry-no-such-dir: mkdir \/proc\/ferry-no-such-dir failed \(ENOENT: no such file or directory\); choose a directory you can write to/);
  });

  it('restore into an existing target nothing can be written in fails at once', async () => {
    const r = await ferry(['restore', 'latest', '--target', '/proc/self/fd'], { env });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^ferry: restore target \/proc\/self\/fd is not writable \(ENOENT: no such file or directory\); choose a directory you can write to/);
  });

  it('a source path that does not exist says so and how to fix it, not raw errno text', async () => {
    const missing = join(work, 'no-such-source');
    const r = await ferry(['backup', missing], { env });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toBe(`ferry: cannot back up ${missing}: it does not exist; check the path (relative paths start at the current directory) (repository local:${repo})\n`);
  });

  it('S3 without credentials names AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and --repo', async () => {
    const r = await ferry(['snapshots'], { env: { FERRY_PASSWORD: PASSWORD, FERRY_REPOSITORY: 's3:http://127.0.0.1:9/bucket/prefix', AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_PROFILE: undefined, AWS_SESSION_TOKEN: undefined, HOME: work } });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).not.toContain('Could not load credentials from any providers');
    expect(r.stderr).toMatch(/no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \(or AWS_PROFILE\) for the bucket named by --repo \/ FERRY_REPOSITORY/);
  });

  for (const word of ['wrong', 'the', 'repository', 'a']) {
    it(`a wrong password that is a common word (${JSON.stringify(word)}) leaves the message intact`, async () => {
      const r = await ferry(['snapshots'], { env: { ...env, FERRY_PASSWORD: word } });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toBe(`ferry: wrong password for the repository at local:${repo}: check FERRY_PASSWORD or --password-file\n`);
    });
  }
});
