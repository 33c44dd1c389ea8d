import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFile, lstat, readlink, stat, chmod, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceIdentity } from '@ferry/mover';
import { ResticMover, type ResticMoverOptions } from './mover.js';
import { listLockIds, plainRestic, resticProcessesIn, scratch, writeRandomFiles, writeTree } from './restic.fixture.js';

const PASSWORD = 'an s3 repository password';
const POD: SourceIdentity = { kind: 'pod', namespace: 'shop', pod: 'db-0', volume: 'data', pvcUid: 'pvc-s3' };

let dir: string;
let cleanup: () => Promise<void>;
let repo: string;
let env: Record<string, string>;

beforeEach(async () => {
  ({ dir, cleanup } = await scratch('s3'));
  const s3 = inject('s3');
  // a bucket per test; restic creates it on init
  repo = `s3:${s3.endpoint}/ferry-restic-${randomBytes(4).toString('hex')}`;
  env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_DEFAULT_REGION: s3.region };
});
afterEach(async () => cleanup());

function mover(extra: Partial<ResticMoverOptions> = {}): ResticMover {
  return new ResticMover({ repository: repo, password: PASSWORD, env, cacheDir: join(dir, 'cache'), killGraceMs: 3000, ...extra });
}

describe('ResticMover on Ceph RGW (S3)', () => {
  it('init, backup, incremental backup, stream backup, restore with metadata, snapshots', async () => {
    const m = mover();
    expect((await m.init()).created).toBe(true);
    expect((await m.init()).created).toBe(false);

    const src = join(dir, 'src');
    await writeTree(src, { 'a.txt': 'alpha', 'sub/b.bin': randomBytes(300_000) });
    await chmod(join(src, 'a.txt'), 0o640);
    const mtime = new Date('2020-02-02T02:02:02Z');
    await utimes(join(src, 'a.txt'), mtime, mtime);
    await symlink('sub/b.bin', join(src, 'link'));
    const first = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    expect(first.stats.filesNew).toBe(2); // restic counts regular files; the symlink is a tree entry
    const second = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    expect(second.parentId).toBe(first.snapshotId);
    expect(second.stats).toMatchObject({ filesUnmodified: 2, filesNew: 0, filesChanged: 0 });

    async function* dump(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 8; i++) yield randomBytes(1 << 20);
    }
    const streamed = await m.backup({ source: { kind: 'stream', stream: dump(), fileName: 'db.dump' }, identity: { ...POD, volume: 'dump' } });
    expect(streamed.stats.bytesProcessed).toBe(8 << 20);

    const snaps = await m.snapshots();
    expect(snaps.map((s) => s.id)).toEqual([first.snapshotId, second.snapshotId, streamed.snapshotId]);
    expect(snaps[2]!.identity).toEqual({ ...POD, volume: 'dump' });

    const out = join(dir, 'out');
    const restored = await m.restore({ snapshotId: second.snapshotId, target: out });
    expect(restored.stats).toMatchObject({ filesRestored: 3, dirsRestored: 1, bytesRestored: 5 + 300_000 });
    expect((await stat(join(out, 'a.txt'))).mode & 0o777).toBe(0o640);
    expect((await stat(join(out, 'a.txt'))).mtime.toISOString()).toBe(mtime.toISOString());
    expect((await lstat(join(out, 'link'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(out, 'link'))).toBe('sub/b.bin');
    expect(await readFile(join(out, 'sub/b.bin'))).toEqual(await readFile(join(src, 'sub/b.bin')));
    const dumpOut = join(dir, 'dump-out');
    await m.restore({ snapshotId: streamed.snapshotId, target: dumpOut });
    expect((await stat(join(dumpOut, 'db.dump'))).size).toBe(8 << 20);
  });

  it('forget with a retention policy, prune and check --read-data', async () => {
    const m = mover();
    await m.init();
    const src = join(dir, 'src');
    for (let i = 0; i < 3; i++) {
      await writeTree(src, { 'data.bin': randomBytes(200_000) });
      await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    }
    const forgot = await m.forget({ policy: { keepLast: 1 }, identity: POD });
    expect(forgot.removed).toHaveLength(2);
    const pruned = await m.prune();
    expect(pruned.bytesFreed).toBeGreaterThan(300_000);
    expect(await m.check({ readData: 'all' })).toEqual({ ok: true, problems: [] });
    expect((await m.check({ readData: { fraction: 0.25 } })).ok).toBe(true);
  });

  it('maps wrong password, missing repository and missing snapshot', async () => {
    await expect(mover().snapshots()).rejects.toMatchObject({ code: 'RepositoryNotFound' });
    await mover().init();
    const wrong = await mover({ password: 'nope-nope' }).snapshots().catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: 'WrongPassword' });
    expect((wrong as Error).message).not.toContain(env['AWS_SECRET_ACCESS_KEY']);
    await expect(mover().restore({ snapshotId: 'abcdef12', target: join(dir, 'x') })).rejects.toMatchObject({ code: 'SnapshotNotFound' });
  });

  it('maps an unreachable S3 endpoint to Network, not RepositoryNotFound', async () => {
    const m = mover({ repository: 's3:http://127.0.0.1:1/ferry-nowhere' });
    const err = await m.snapshots().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Network', message: expect.stringContaining('connection refused') });
    expect((err as Error).message).not.toContain(env['AWS_SECRET_ACCESS_KEY']);
  });

  it('lists and restores an S3 repository written by the plain restic CLI', async () => {
    expect((await plainRestic(repo, PASSWORD, ['init'], { env })).exitCode).toBe(0);
    const vol = join(dir, 'vol');
    await writeTree(vol, { 'page.html': '<p>old</p>' });
    expect((await plainRestic(repo, PASSWORD, ['backup', '--host', 'velero', '--tag', 'backup=nightly-1', '.'], { cwd: vol, env })).exitCode).toBe(0);
    const [snap] = await mover().snapshots();
    expect(snap).toMatchObject({ identity: { kind: 'host', host: 'velero', path: vol }, tags: ['backup=nightly-1'] });
    const out = join(dir, 'out');
    await mover().restore({ snapshotId: snap!.id, target: out });
    expect(await readFile(join(out, 'page.html'), 'utf8')).toBe('<p>old</p>');
  });

  it('cancels a backup mid-way and recovers from a SIGKILLed restic', async () => {
    const m = mover();
    await m.init();
    const src = join(dir, 'src');
    await writeRandomFiles(src, 20, 10 << 20);
    const controller = new AbortController();
    const canceled = m.backup({ source: { kind: 'directory', path: src }, identity: POD, signal: controller.signal, onProgress: () => controller.abort() });
    await expect(canceled).rejects.toMatchObject({ code: 'Canceled' });
    expect(await resticProcessesIn(src)).toEqual([]);

    let killed = 0;
    const run = m.backup({
      source: { kind: 'directory', path: src }, identity: POD,
      onProgress: () => void resticProcessesIn(src).then(([p]) => {
        if (p && !killed) process.kill((killed = p.pid), 'SIGKILL');
      }),
    });
    await expect(run).rejects.toMatchObject({ code: 'Internal' });
    expect(await listLockIds(repo, PASSWORD, env)).toHaveLength(1);
    expect((await m.check()).ok).toBe(true);
    expect(await listLockIds(repo, PASSWORD, env)).toEqual([]);
    const next = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    expect(next.stats.filesNew + next.stats.filesUnmodified + next.stats.filesChanged).toBe(20);
    expect(await m.snapshots()).toHaveLength(1);
  });
});
