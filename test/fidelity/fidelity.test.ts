/**
 * Bit-exact restores (issue 14): a generated corpus goes through a backup and comes back by
 * each restore path Ferry has (`ferry restore`, `ferry dump | tar -x`, and the native mover
 * the agent restores with); a tree walker compares every field. Runs on /tmp (ext4 here
 * and in CI), where xattrs, ACLs, holes and, as root, device nodes all work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LocalStore } from '@ferry/blobstore';
import { NativeMover } from '@ferry/mover';
import { assertBuilt, CLI, ferry } from '../../packages/cli/src/cli.fixture.js';
import { makeCorpus } from './corpus.fixture.js';
import { compareTrees, walkTree, type TreeRecord } from './tree-walker.fixture.js';

const PASSWORD = 'fidelity corpus password';
let work: string;
let env: Record<string, string>;

async function backedUp(name: string, nonUtf8Names: boolean): Promise<{ source: string; record: TreeRecord; entries: number }> {
  const source = join(work, name);
  await mkdir(source);
  const entries = makeCorpus(source, { nonUtf8Names });
  const record = walkTree(source);
  const backup = await ferry(['backup', source, '--tag', name], { env });
  expect(backup.stderr).toBe('');
  expect(backup.exitCode).toBe(0);
  return { source, record, entries };
}

/** Walks the restored tree and expects no difference to the source; logs the count for the closing note. */
function expectIdentical(label: string, record: TreeRecord, target: string, entries: number, allocation: boolean): void {
  const restored = walkTree(target);
  expect(compareTrees(record, restored, { allocation })).toEqual([]);
  expect(restored.entries.size).toBe(entries);
  console.log(`fidelity ${label}: ${restored.entries.size} entries compared, 0 differences`);
}

beforeAll(async () => {
  await assertBuilt();
  work = await mkdtemp(join(tmpdir(), 'ferry-fidelity-'));
  env = { FERRY_REPOSITORY: join(work, 'repo'), FERRY_PASSWORD: PASSWORD };
  expect((await ferry(['init'], { env })).exitCode).toBe(0);
});

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('restores are identical to the source', () => {
  it('ferry restore: content, type, mode, owner, ns mtime, targets, hardlinks, xattrs, ACLs and holes', async () => {
    const { record, entries } = await backedUp('corpus-cli', true);
    const target = join(work, 'out-cli');
    const restore = await ferry(['restore', 'latest', '--target', target], { env });
    expect(restore.stderr).toBe('');
    expect(restore.exitCode).toBe(0);
    expectIdentical('ferry restore', record, target, entries, true);
  });

  it('the native mover (the agent\'s restore path) restores the same tree', async () => {
    const { record, entries } = await backedUp('corpus-mover', true);
    const mover = new NativeMover({ store: new LocalStore({ root: env['FERRY_REPOSITORY']! }), credential: { kind: 'password', password: PASSWORD } });
    const [latest] = (await mover.snapshots({})).filter((s) => s.tags.includes('corpus-mover'));
    const target = join(work, 'out-mover');
    const result = await mover.restore({ snapshotId: latest!.id, target });
    expect(result.fileErrors).toEqual([]);
    expectIdentical('mover restore', record, target, entries, true);
  });

  it('ferry dump | tar -x keeps the same, except holes (tar writes them as zeros) and non-UTF-8 names', async () => {
    const { record, entries } = await backedUp('corpus-tar', false);
    const target = join(work, 'out-tar');
    await mkdir(target);
    // Literally the pipe a user types; pipefail makes a failing dump fail the run too.
    const tarArgs = "-x --warning=no-timestamp --xattrs --xattrs-include='*' --acls --numeric-owner -p";
    const run = await execa('bash', ['-o', 'pipefail', '-c', `"$NODE" "$CLI" dump latest / | tar ${tarArgs} -C "$TARGET"`], {
      env: { ...env, NODE: process.execPath, CLI, TARGET: target },
      extendEnv: true,
      stdin: 'ignore',
      reject: false,
      timeout: 120_000,
    });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expectIdentical('dump | tar -x', record, target, entries, false);
  });
});
