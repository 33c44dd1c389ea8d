import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, readFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LocalStore } from '@ferry/blobstore';
import { NativeMover } from './native-mover.js';
import { isMoverError, type MoverProgress } from './index.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop()!, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ferry-mover-'));
  dirs.push(d);
  return d;
}
const identity = { kind: 'pod' as const, namespace: 'shop', pod: 'db-0', volume: 'data', pvcUid: 'uid-1' };

describe('NativeMover', () => {
  it('backs up and restores through the Mover interface with progress and lineage', async () => {
    const [repoDir, src, out] = [await tmp(), await tmp(), await tmp()];
    const mover = new NativeMover({ store: new LocalStore({ root: repoDir }), credential: { kind: 'password', password: 'pw' } });
    expect((await mover.init({})).created).toBe(true);
    expect((await mover.init({})).created).toBe(false);
    await mkdir(join(src, 'sub'));
    await writeFile(join(src, 'sub', 'a.bin'), randomBytes(3 * 1024 * 1024));
    const progress: MoverProgress[] = [];
    const first = await mover.backup({ source: { kind: 'directory', path: src }, identity, onProgress: (p) => progress.push(p) });
    expect(progress.at(-1)?.bytesDone).toBe(3 * 1024 * 1024);
    const second = await mover.backup({ source: { kind: 'directory', path: src }, identity });
    expect(second.parentId).toBe(first.snapshotId);
    expect(second.stats.filesUnmodified).toBe(1);
    const list = await mover.snapshots({ identity: { ...identity, pod: 'db-0-renamed' } });
    expect(list.map((s) => s.id)).toEqual([first.snapshotId, second.snapshotId]);
    await mover.restore({ snapshotId: second.snapshotId, target: out });
    expect(await readFile(join(out, 'sub', 'a.bin'))).toEqual(await readFile(join(src, 'sub', 'a.bin')));
  });

  it('maps a wrong password, a missing repository and a missing snapshot to their codes', async () => {
    const repoDir = await tmp();
    const store = new LocalStore({ root: repoDir });
    const missing = new NativeMover({ store, credential: { kind: 'password', password: 'pw' } });
    await expect(missing.snapshots({})).rejects.toSatisfy((e) => isMoverError(e, 'RepositoryNotFound'));
    await missing.init({});
    const wrong = new NativeMover({ store, credential: { kind: 'password', password: 'not-it' } });
    const err = await wrong.snapshots({}).catch((e: unknown) => e);
    expect(isMoverError(err, 'WrongPassword')).toBe(true);
    expect(String((err as Error).message)).not.toContain('not-it');
    await expect(missing.restore({ snapshotId: 'ab'.repeat(32), target: await tmp() })).rejects.toSatisfy((e) => isMoverError(e, 'SnapshotNotFound'));
  });

  it('cancels a running backup with Canceled and leaves the repository usable', async () => {
    const [repoDir, src] = [await tmp(), await tmp()];
    const mover = new NativeMover({ store: new LocalStore({ root: repoDir }), credential: { kind: 'password', password: 'pw' } });
    await mover.init({});
    for (let i = 0; i < 40; i++) await writeFile(join(src, `f${i}`), randomBytes(2 * 1024 * 1024));
    const ac = new AbortController();
    const run = mover.backup({ source: { kind: 'directory', path: src }, identity, signal: ac.signal, onProgress: (p) => p.bytesDone > 0 && ac.abort() });
    await expect(run).rejects.toSatisfy((e) => isMoverError(e, 'Canceled'));
    expect(await mover.snapshots({})).toEqual([]);
    const again = await mover.backup({ source: { kind: 'directory', path: src }, identity });
    expect(again.stats.filesNew).toBe(40);
  });

  it('forgets by policy, prunes and checks through the Mover interface', async () => {
    const [repoDir, src] = [await tmp(), await tmp()];
    const mover = new NativeMover({ store: new LocalStore({ root: repoDir }), credential: { kind: 'password', password: 'pw' } });
    await mover.init({});
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await writeFile(join(src, 'f'), randomBytes(300_000));
      ids.push((await mover.backup({ source: { kind: 'directory', path: src }, identity })).snapshotId);
      await new Promise((r) => setTimeout(r, 5));
    }
    const dry = await mover.forget({ policy: { keepLast: 1 }, dryRun: true });
    expect(dry.decisions.filter((d) => d.keep).map((d) => d.snapshot.id)).toEqual([ids[2]]);
    expect((await mover.snapshots({})).length).toBe(3);
    await expect(mover.removeSnapshots({ snapshotIds: [ids[0]!, 'ab'.repeat(32)] })).rejects.toSatisfy((e) => isMoverError(e, 'SnapshotNotFound'));
    expect((await mover.snapshots({})).length).toBe(3);
    expect((await mover.removeSnapshots({ snapshotIds: [ids[0]!] })).removed).toEqual([ids[0]]);
    ids.shift();
    const forgot = await mover.forget({ policy: { keepLast: 1 }, identity });
    expect([...forgot.removed]).toEqual([ids[0]]);
    expect((await mover.prune({ dryRun: true })).dryRun).toBe(true);
    await mover.prune({});
    const checked = await mover.check({ readData: 'all' });
    expect(checked).toEqual({ ok: true, problems: [] });
  });
});

describe('NativeMover block volumes', () => {
  it('backs up a device file and restores it onto a target of at least its size; a smaller one is refused', async () => {
    const [repoDir, dir] = [await tmp(), await tmp()];
    const mover = new NativeMover({ store: new LocalStore({ root: repoDir }), credential: { kind: 'password', password: 'pw' } });
    await mover.init();
    const device = join(dir, 'disk.img');
    const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(1 << 20), randomBytes(70_000)]);
    await writeFile(device, data);
    const backup = await mover.backup({ source: { kind: 'device', path: device }, identity });
    expect(backup.stats.bytesProcessed).toBe(data.length);
    const target = join(dir, 'target.img');
    await writeFile(target, randomBytes(data.length + 4096));
    const restored = await mover.restore({ snapshotId: backup.snapshotId, target, volumeMode: 'Block' });
    expect(restored.stats.filesRestored).toBe(1);
    expect((await readFile(target)).subarray(0, data.length).equals(data)).toBe(true);
    const small = join(dir, 'small.img');
    await writeFile(small, Buffer.alloc(1000, 1));
    const err = await mover.restore({ snapshotId: backup.snapshotId, target: small, volumeMode: 'Block' }).catch((e: unknown) => e);
    expect(isMoverError(err, 'TargetTooSmall')).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`${small} has 1000 bytes but the backed-up device had ${data.length}`));
  });
});
