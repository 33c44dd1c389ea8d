import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { SourceIdentity } from '@ferry/mover';
import { ResticMover } from './mover.js';
import { listLockIds, plainRestic, resticProcessesIn, scratch, waitFor, writeRandomFiles } from './restic.fixture.js';

const PASSWORD = 'locks-and-signals';
const POD: SourceIdentity = { kind: 'pod', namespace: 'shop', pod: 'db-0', volume: 'data', pvcUid: 'pvc-2222' };

let dir: string;
let cleanup: () => Promise<void>;
let repo: string;
let m: ResticMover;

beforeEach(async () => {
  ({ dir, cleanup } = await scratch('locks'));
  repo = join(dir, 'repo');
  m = new ResticMover({ repository: repo, password: PASSWORD, cacheDir: join(dir, 'cache'), killGraceMs: 3000 });
  await m.init();
});
afterEach(async () => cleanup());

/** Starts a plain restic that holds a shared lock until its stdin is closed. */
async function lockHolder(shell?: string) {
  const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PASSWORD };
  const child = shell
    ? execa('unshare', ['-u', 'sh', '-c', shell], { env, stdin: 'pipe', reject: false })
    : execa('restic', ['backup', '--stdin', '--stdin-filename', 'held'], { env, stdin: 'pipe', reject: false });
  await waitFor(async () => (await listLockIds(repo, PASSWORD)).length === 1, 20_000);
  return { child }; // wrapped: a subprocess is a thenable, and returning it would wait for its exit
}

describe('ResticMover cancellation and locks', () => {
  it('cancels a running backup by killing restic\'s process group, and the next backup succeeds', async () => {
    const src = join(dir, 'src');
    await writeRandomFiles(src, 30, 10 << 20); // 300 MiB
    const controller = new AbortController();
    let abortedAt = 0;
    const started = m.backup({
      source: { kind: 'directory', path: src }, identity: POD, signal: controller.signal,
      onProgress: () => {
        if (abortedAt) return;
        abortedAt = Date.now();
        controller.abort();
      },
    });
    await expect(started).rejects.toMatchObject({ code: 'Canceled' });
    expect(abortedAt).toBeGreaterThan(0);
    expect(Date.now() - abortedAt).toBeLessThan(5000);
    expect(await resticProcessesIn(src)).toEqual([]);
    expect(await m.snapshots()).toEqual([]);

    const next = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    expect(next.stats.filesNew).toBe(30);
    expect((await m.check()).ok).toBe(true);
  });

  it('rejects at once with Canceled when the signal has already fired', async () => {
    await expect(m.snapshots({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'Canceled' });
  });

  it('removes the stale lock of a restic killed with SIGKILL mid-backup, then works', async () => {
    const src = join(dir, 'src');
    await writeRandomFiles(src, 15, 10 << 20);
    let killed = 0;
    const run = m.backup({
      source: { kind: 'directory', path: src }, identity: POD,
      onProgress: () => {
        if (killed) return;
        void resticProcessesIn(src).then(([proc]) => {
          if (proc && !killed) {
            killed = proc.pid;
            process.kill(proc.pid, 'SIGKILL');
          }
        });
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'Internal', message: expect.stringContaining('killed') });
    expect(killed).toBeGreaterThan(0);
    const [stale] = await m.inspectLocks();
    expect(stale).toMatchObject({ stale: true, lock: { pid: killed, hostname: hostname() } });

    // check takes an exclusive lock, so it meets the stale lock and must clear it first
    expect((await m.check()).ok).toBe(true);
    expect(await listLockIds(repo, PASSWORD)).toEqual([]);
    const next = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    expect(next.stats.filesNew).toBe(15);
  });

  it('reports a lock held by a live process and leaves it in place', async () => {
    const { child: holder } = await lockHolder();
    try {
      const err = await m.check().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'RepositoryLocked' });
      const message = (err as Error).message;
      expect(message).toContain(`PID ${holder.pid}`);
      expect(message).toContain(`host ${hostname()}`);
      expect(message).toMatch(/\d+s old/);
      expect(await listLockIds(repo, PASSWORD)).toHaveLength(1);
      // a backup only needs a shared lock and goes ahead beside it
      const src = join(dir, 'src');
      await writeRandomFiles(src, 1, 1024);
      await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    } finally {
      holder.stdin?.end('held data');
      await holder;
    }
    expect((await holder).exitCode).toBe(0);
    expect((await m.check()).ok).toBe(true);
  });

  it('keeps a young lock from another host even though its holder is dead here', async () => {
    const { child: holder } = await lockHolder('hostname other-node && exec restic backup --stdin --stdin-filename held');
    holder.kill('SIGKILL');
    await holder;
    const err = await m.prune().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RepositoryLocked' });
    expect((err as Error).message).toContain('host other-node');
    expect((err as Error).message).toContain('held by another host');
    expect(await listLockIds(repo, PASSWORD)).toHaveLength(1);
    const [verdict] = await m.inspectLocks();
    expect(verdict).toMatchObject({ stale: false, lock: { hostname: 'other-node', pid: holder.pid } });

    // 31 minutes later (by the mover's clock) restic's rule calls it stale
    const later = new ResticMover({ repository: repo, password: PASSWORD, cacheDir: join(dir, 'cache'), now: () => Date.now() + 31 * 60_000 });
    const [old] = await later.inspectLocks();
    expect(old).toMatchObject({ stale: true });
    const plain = await plainRestic(repo, PASSWORD, ['list', 'locks', '--no-lock']);
    expect(String(plain.stdout)).toContain(old!.lock.id);
  });
});
