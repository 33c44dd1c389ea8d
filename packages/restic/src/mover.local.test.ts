import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, lstat, mkdir, readFile, readlink, stat, symlink, utimes, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { MoverProgress, SourceIdentity } from '@ferry/mover';
import { isMoverError } from '@ferry/mover';
import { ResticMover, type ResticMoverOptions } from './mover.js';
import { plainRestic, scratch, writeTree } from './restic.fixture.js';

const PASSWORD = 'correct horse battery staple';
const POD: SourceIdentity = { kind: 'pod', namespace: 'shop', pod: 'db-0', volume: 'data', pvcUid: 'pvc-1111', podUid: 'pod-aaaa' };

let dir: string;
let cleanup: () => Promise<void>;
let repo: string;

beforeEach(async () => {
  ({ dir, cleanup } = await scratch('local'));
  repo = join(dir, 'repo');
});
afterEach(async () => cleanup());

function mover(extra: Partial<ResticMoverOptions> = {}): ResticMover {
  return new ResticMover({ repository: repo, password: PASSWORD, cacheDir: join(dir, 'cache'), ...extra });
}

async function source(files: Record<string, string>): Promise<string> {
  const src = join(dir, 'src');
  await writeTree(src, files);
  return src;
}

describe('ResticMover on a local repository', () => {
  it('init creates the repository once and is a no-op afterwards', async () => {
    const m = mover();
    const first = await m.init();
    expect(first.created).toBe(true);
    expect(first.repositoryId).toMatch(/^[0-9a-f]{64}$/);
    const second = await m.init();
    expect(second).toEqual({ created: false, repositoryId: first.repositoryId });
  });

  it('removes exactly the snapshots it is given, and refuses an id that is not one', async () => {
    const m = mover();
    await m.init();
    const src = await source({ 'a.txt': 'alpha' });
    const identity = { kind: 'pod' as const, namespace: 'ns', pod: 'p', volume: 'v' };
    const first = await m.backup({ source: { kind: 'directory', path: src }, identity });
    const second = await m.backup({ source: { kind: 'directory', path: src }, identity });
    await expect(m.removeSnapshots({ snapshotIds: ['--all'] })).rejects.toSatisfy((e) => isMoverError(e, 'InvalidArgument'));
    expect((await m.removeSnapshots({ snapshotIds: [first.snapshotId] })).removed).toEqual([first.snapshotId]);
    expect((await m.snapshots({})).map((s) => s.id)).toEqual([second.snapshotId]);
  });

  it('backs up a directory with progress, then incrementally using the latest snapshot of the same PVC', async () => {
    const m = mover();
    await m.init();
    const src = await source({ 'a.txt': 'alpha', 'sub/b.txt': 'bravo', 'sub/c.txt': 'charlie' });
    const progress: MoverProgress[] = [];
    const first = await m.backup({ source: { kind: 'directory', path: src }, identity: POD, onProgress: (p) => progress.push(p) });
    expect(first.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(first.parentId).toBeUndefined();
    expect(first.stats).toMatchObject({ filesNew: 3, filesChanged: 0, filesUnmodified: 0, bytesProcessed: 17 });
    expect(first.fileErrors).toEqual([]);
    expect(progress.at(-1)).toMatchObject({ op: 'backup', filesDone: 3, bytesDone: 17 });

    // a new pod incarnation of the same PVC finds its parent by pvc uid
    const nextPod: SourceIdentity = { ...POD, pod: 'db-0', podUid: 'pod-bbbb' };
    const second = await m.backup({ source: { kind: 'directory', path: src }, identity: nextPod });
    expect(second.parentId).toBe(first.snapshotId);
    expect(second.stats).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnmodified: 3, bytesRead: 0 });

    await writeFile(join(src, 'a.txt'), 'alpha, changed');
    const third = await m.backup({ source: { kind: 'directory', path: src }, identity: nextPod });
    expect(third.parentId).toBe(second.snapshotId);
    expect(third.stats).toMatchObject({ filesChanged: 1, filesUnmodified: 2 });

    const full = await m.backup({ source: { kind: 'directory', path: src }, identity: nextPod, parent: 'none' });
    expect(full.parentId).toBeUndefined();
    expect(full.stats.filesUnmodified).toBe(0);
  });

  it('falls back to pod + volume when no snapshot of the PVC uid exists', async () => {
    const m = mover();
    await m.init();
    const src = await source({ 'f': 'x' });
    const { pvcUid: _drop, ...noPvc } = POD as Extract<SourceIdentity, { kind: 'pod' }>;
    const first = await m.backup({ source: { kind: 'directory', path: src }, identity: noPvc });
    const second = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    expect(second.parentId).toBe(first.snapshotId);
  });

  it('reads excludes as the native mover does: a name at any depth, a path with "/" from the volume root', async () => {
    const m = mover();
    await m.init();
    const src = await source({ 'keep.txt': 'k', 'cache/junk': 'j', 'deep/cache/gone': 'd', 'tmp/a': 'a', 'deep/tmp/kept': 't', 'x.log': 'l', 'deep/y.log': 'l', 'deep/z.dat': 'z' });
    await m.backup({ source: { kind: 'directory', path: src }, identity: POD, excludes: ['cache', '/tmp', '**/*.log'] });
    const out = join(dir, 'out');
    const [snap] = await m.snapshots();
    await m.restore({ snapshotId: snap!.id, target: out });
    expect((await readdir(out)).sort()).toEqual(['deep', 'keep.txt']);
    expect((await readdir(join(out, 'deep'))).sort()).toEqual(['tmp', 'z.dat']);
    expect(await readFile(join(out, 'deep/tmp/kept'), 'utf8')).toBe('t');
  });

  it('restores content and metadata: mode, mtime, symlinks, directories; and a single subtree', async () => {
    const m = mover();
    await m.init();
    const src = await source({ 'bin/run.sh': '#!/bin/sh\necho hi\n', 'data/secret.key': 'k3y', 'data/plain.txt': 'plain' });
    await chmod(join(src, 'bin/run.sh'), 0o750);
    await chmod(join(src, 'data/secret.key'), 0o600);
    await chmod(join(src, 'data'), 0o710);
    const mtime = new Date('2021-03-04T05:06:07Z');
    await utimes(join(src, 'data/plain.txt'), mtime, mtime);
    await symlink('data/plain.txt', join(src, 'link'));
    const backup = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });

    const out = join(dir, 'out');
    const progress: MoverProgress[] = [];
    const restored = await m.restore({ snapshotId: backup.snapshotId, target: out, onProgress: (p) => progress.push(p) });
    expect(restored.fileErrors).toEqual([]);
    expect(restored.stats).toMatchObject({ filesRestored: 4, dirsRestored: 2, bytesRestored: 18 + 3 + 5 + 0 });
    expect(progress.at(-1)).toMatchObject({ op: 'restore', filesDone: 4, filesTotal: 4 });
    expect((await stat(join(out, 'bin/run.sh'))).mode & 0o777).toBe(0o750);
    expect((await stat(join(out, 'data/secret.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, 'data'))).mode & 0o777).toBe(0o710);
    expect((await stat(join(out, 'data/plain.txt'))).mtime.toISOString()).toBe(mtime.toISOString());
    expect((await lstat(join(out, 'link'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(out, 'link'))).toBe('data/plain.txt');
    expect(await readFile(join(out, 'link'), 'utf8')).toBe('plain');

    const part = join(dir, 'part');
    const sub = await m.restore({ snapshotId: backup.snapshotId, target: part, include: 'data' });
    expect(sub.stats.filesRestored).toBe(2);
    expect((await readdir(part)).sort()).toEqual(['data']);
    expect(await readFile(join(part, 'data/secret.key'), 'utf8')).toBe('k3y');
  });

  it('refuses block volumes with Unsupported, naming the device and the ferry mover, before running restic', async () => {
    const m = mover();
    const device = join(dir, 'disk.img');
    await writeFile(device, 'not read');
    const backup = await m.backup({ source: { kind: 'device', path: device }, identity: POD }).catch((e: unknown) => e);
    expect(isMoverError(backup, 'Unsupported')).toBe(true);
    expect((backup as Error).message).toContain(device);
    expect((backup as Error).message).toContain('ferry mover');
    const restore = await m.restore({ snapshotId: 'abcdef12', target: device, volumeMode: 'Block' }).catch((e: unknown) => e);
    expect(isMoverError(restore, 'Unsupported')).toBe(true);
    expect(await readFile(device, 'utf8')).toBe('not read');
  });

  it('backs up a stream piped into restic --stdin and restores it', async () => {
    const m = mover();
    await m.init();
    const chunk = Buffer.alloc(1 << 20, 7);
    async function* dump(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 24; i++) yield chunk;
    }
    const result = await m.backup({ source: { kind: 'stream', stream: dump(), fileName: 'dump.sql' }, identity: POD });
    expect(result.stats.bytesProcessed).toBe(24 << 20);
    const out = join(dir, 'out');
    await m.restore({ snapshotId: result.snapshotId, target: out });
    expect((await stat(join(out, 'dump.sql'))).size).toBe(24 << 20);
  });

  it('fails a backup whose stream errors mid-way and leaves no snapshot behind', async () => {
    const m = mover();
    await m.init();
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(1 << 20, 1);
      yield Buffer.alloc(1 << 20, 2);
      throw new Error('pg_dump exited with status 1');
    }
    const err = await m.backup({ source: { kind: 'stream', stream: broken(), fileName: 'dump.sql' }, identity: POD }).catch((e: unknown) => e);
    expect(isMoverError(err)).toBe(true);
    expect((err as Error).message).toContain('pg_dump exited with status 1');
    expect(await m.snapshots()).toEqual([]);
    // restic was killed holding a lock; the next exclusive operation still works
    expect((await m.check()).ok).toBe(true);
  });

  it('lists snapshots with identities parsed back, filtered by identity and tags', async () => {
    const m = mover();
    await m.init();
    const src = await source({ f: 'x' });
    const other: SourceIdentity = { kind: 'pod', namespace: 'shop', pod: 'web-1', volume: 'cache' };
    await m.backup({ source: { kind: 'directory', path: src }, identity: POD, tags: ['nightly'] });
    await m.backup({ source: { kind: 'directory', path: src }, identity: other });
    await m.backup({ source: { kind: 'directory', path: src }, identity: { kind: 'host', host: 'node-7', path: src } });

    const all = await m.snapshots();
    expect(all.map((s) => s.identity)).toEqual([POD, other, { kind: 'host', host: 'node-7', path: src }]);
    expect(all[0]!.tags).toEqual(['nightly']);
    expect(all[0]!.hostname).toBe('shop/db-0');
    expect(all[0]!.paths).toEqual([src]);
    expect((await m.snapshots({ identity: other })).map((s) => s.identity)).toEqual([other]);
    expect((await m.snapshots({ tags: ['nightly'] })).map((s) => s.id)).toEqual([all[0]!.id]);
    expect((await m.snapshots({ identity: { kind: 'host', host: 'node-7', path: src } })).length).toBe(1);
  });

  it('forgets by retention policy per lineage, and prune frees the space', async () => {
    const m = mover();
    await m.init();
    const src = join(dir, 'src');
    const other: SourceIdentity = { kind: 'pod', namespace: 'shop', pod: 'web-1', volume: 'cache' };
    for (let i = 0; i < 4; i++) {
      await writeTree(src, { [`gen-${i}.bin`]: randomBytes(256 * 1024) });
      await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
      await writeFile(join(src, `gen-${i}.bin`), ''); // later snapshots no longer reference the old content
    }
    await m.backup({ source: { kind: 'directory', path: src }, identity: other });
    await m.backup({ source: { kind: 'directory', path: src }, identity: other });

    const dry = await m.forget({ policy: { keepLast: 2 }, identity: POD, dryRun: true });
    expect(dry.removed).toEqual([]);
    expect(dry.decisions.filter((d) => !d.keep)).toHaveLength(2);
    expect(await m.snapshots({ identity: POD })).toHaveLength(4);

    const forgot = await m.forget({ policy: { keepLast: 2 }, identity: POD });
    expect(forgot.removed).toHaveLength(2);
    expect(forgot.decisions.filter((d) => d.keep).every((d) => d.reasons.includes('last snapshot'))).toBe(true);
    expect(await m.snapshots({ identity: POD })).toHaveLength(2);
    expect(await m.snapshots({ identity: other })).toHaveLength(2);

    const everywhere = await m.forget({ policy: { keepLast: 1 } });
    expect(everywhere.removed).toHaveLength(2);
    expect(await m.snapshots({ identity: POD })).toHaveLength(1);
    expect(await m.snapshots({ identity: other })).toHaveLength(1);

    const dryPrune = await m.prune({ dryRun: true });
    expect(dryPrune.dryRun).toBe(true);
    const pruned = await m.prune();
    expect(pruned.bytesFreed).toBeGreaterThan(256 * 1024);
    expect(pruned.packsDeleted).toBeGreaterThan(0);
    expect(await m.check({ readData: 'all' })).toEqual({ ok: true, problems: [] });
  });

  it('rejects a policy that keeps nothing', async () => {
    await expect(mover().forget({ policy: {} })).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('check reads all data, a subset, and reports a damaged pack', async () => {
    const m = mover();
    await m.init();
    await m.backup({ source: { kind: 'directory', path: await source({ a: randomBytes(5000).toString('hex'), b: randomBytes(7000).toString('hex') }) }, identity: POD });
    expect(await m.check()).toEqual({ ok: true, problems: [] });
    expect((await m.check({ readData: { fraction: 0.5 } })).ok).toBe(true);

    const dataDir = join(repo, 'data');
    let sub = '';
    let packs: string[] = [];
    for (const name of await readdir(dataDir)) {
      packs = await readdir(join(dataDir, name));
      sub = name;
      if (packs.length > 0) break;
    }
    const pack = join(dataDir, sub, packs[0]!);
    const bytes = await readFile(pack);
    bytes[10] = bytes[10]! ^ 0xff;
    await chmod(pack, 0o600);
    await writeFile(pack, bytes);
    const damaged = await m.check({ readData: 'all' });
    expect(damaged.ok).toBe(false);
    expect(damaged.problems.length).toBeGreaterThan(0);
    expect(damaged.problems.some((p) => p.object !== undefined && packs[0]!.startsWith(p.object))).toBe(true);
  });

  it('maps a wrong password to WrongPassword without echoing it', async () => {
    await mover().init();
    const err = await mover({ password: 'not-the-password' }).snapshots().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WrongPassword' });
    expect((err as Error).message).toContain(repo);
    expect((err as Error).message).not.toContain('not-the-password');
  });

  it('maps a missing repository to RepositoryNotFound', async () => {
    await expect(mover().snapshots()).rejects.toMatchObject({ code: 'RepositoryNotFound' });
    await expect(mover().backup({ source: { kind: 'directory', path: await source({ f: 'x' }) }, identity: POD })).rejects.toMatchObject({ code: 'RepositoryNotFound' });
  });

  it('maps a missing snapshot to SnapshotNotFound and a malformed id to InvalidArgument', async () => {
    const m = mover();
    await m.init();
    await expect(m.restore({ snapshotId: 'deadbeef', target: join(dir, 'out') })).rejects.toMatchObject({ code: 'SnapshotNotFound' });
    await expect(m.restore({ snapshotId: 'e'.repeat(64), target: join(dir, 'out') })).rejects.toMatchObject({ code: 'SnapshotNotFound' });
    await expect(m.backup({ source: { kind: 'directory', path: await source({ f: 'x' }) }, identity: POD, parent: 'abcd1234' })).rejects.toMatchObject({ code: 'SnapshotNotFound' });
    await expect(m.restore({ snapshotId: '--target=/', target: join(dir, 'out') })).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('maps a missing source directory to SourceNotFound', async () => {
    const m = mover();
    await m.init();
    await expect(m.backup({ source: { kind: 'directory', path: join(dir, 'nope') }, identity: POD })).rejects.toMatchObject({ code: 'SourceNotFound' });
  });

  it('accepts the password from a file', async () => {
    const file = join(dir, 'pw');
    await writeFile(file, PASSWORD, { mode: 0o600 });
    await mover().init();
    const m = new ResticMover({ repository: repo, passwordFile: file });
    expect(await m.snapshots()).toEqual([]);
  });

  it('lists and restores a repository written by the plain restic CLI (as Velero or K8up leave it)', async () => {
    expect((await plainRestic(repo, PASSWORD, ['init'])).exitCode).toBe(0);
    const vol = join(dir, 'host_pods', 'uid-1', 'volumes', 'kubernetes.io~csi', 'pvc-x', 'mount');
    await writeTree(vol, { 'index.html': '<h1>hi</h1>', 'img/logo.png': 'PNG' });
    const velero = await plainRestic(repo, PASSWORD, ['backup', '--host', 'velero', '--tag', 'pod=web-0', '--tag', 'volume=html', '--tag', 'ns=shop', '.'], { cwd: vol });
    expect(velero.exitCode).toBe(0);
    const k8up = await plainRestic(repo, PASSWORD, ['backup', '--host', 'shop', vol]);
    expect(k8up.exitCode).toBe(0);

    const snaps = await mover().snapshots();
    expect(snaps).toHaveLength(2);
    expect(snaps[0]).toMatchObject({ identity: { kind: 'host', host: 'velero', path: vol }, tags: ['pod=web-0', 'volume=html', 'ns=shop'], hostname: 'velero' });
    expect(snaps[1]).toMatchObject({ identity: { kind: 'host', host: 'shop', path: vol } });

    const out = join(dir, 'out');
    const restored = await mover().restore({ snapshotId: snaps[0]!.id, target: out });
    expect(restored.stats.filesRestored).toBe(2);
    expect(await readFile(join(out, 'index.html'), 'utf8')).toBe('<h1>hi</h1>');
    // K8up-style absolute path: the tree keeps the full path
    const out2 = join(dir, 'out2');
    await mover().restore({ snapshotId: snaps[1]!.id, target: out2 });
    expect(await readFile(join(out2, vol, 'img/logo.png'), 'utf8')).toBe('PNG');
    // and the mover can keep backing up into it
    const more = await mover().backup({ source: { kind: 'directory', path: vol }, identity: POD });
    expect(more.stats.filesNew).toBe(2);
  });
});

describe('ResticMover partial failures and secrets', () => {
  it('resolves a backup with unreadable files (restic exit 3) listing them in fileErrors', async () => {
    // restic runs as nobody through a wrapper so a 0000 file is unreadable even for root
    const wrapper = join(dir, 'restic-as-nobody');
    await writeFile(wrapper, '#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups restic "$@"\n', { mode: 0o755 });
    const m = mover({ binary: wrapper });
    await m.init();
    await chmod(repo, 0o777);
    await plainRestic('/', '', ['version']);
    await chmodTree(repo);
    const src = await source({ 'ok.txt': 'fine', 'locked/secret.txt': 'no' });
    await chmod(join(src, 'locked/secret.txt'), 0o000);
    await chmodTree(join(dir, 'cache'));
    const result = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    expect(result.fileErrors).toEqual([{ path: 'locked/secret.txt', message: 'open: EACCES' }]);
    expect(result.stats.filesNew).toBe(1);
    expect((await m.snapshots()).map((s) => s.id)).toEqual([result.snapshotId]);
  });

  it('never puts the password or S3 keys on the command line, only in the environment', async () => {
    const records = join(dir, 'argv');
    await mkdir(records);
    const wrapper = join(dir, 'restic-spy');
    // One file per invocation (argv and which secrets arrived through the environment), so
    // what is checked is each command on its own, not a count of interleaved log lines.
    await writeFile(
      wrapper,
      `#!/bin/sh\nrec=$(mktemp ${records}/rec.XXXXXX)\n{ printf '%s\\n' "ARGV $*"; [ -n "$RESTIC_PASSWORD" ] && echo ENV_PASSWORD; [ -n "$AWS_SECRET_ACCESS_KEY" ] && echo ENV_SECRET; } > "$rec"\nexec restic "$@"\n`,
      { mode: 0o755 },
    );
    const secret = 'S3-SECRET-do-not-leak';
    const m = mover({ binary: wrapper, env: { AWS_ACCESS_KEY_ID: 'AKIDFERRY', AWS_SECRET_ACCESS_KEY: secret } });
    await m.init();
    const src = await source({ f: 'x' });
    const b = await m.backup({ source: { kind: 'directory', path: src }, identity: POD });
    await m.restore({ snapshotId: b.snapshotId, target: join(dir, 'out') });
    await m.check();
    const invocations = await Promise.all((await readdir(records)).map(async (f) => (await readFile(join(records, f), 'utf8')).split('\n').filter((l) => l !== '')));
    const argvOf = (lines: string[]) => lines.find((l) => l.startsWith('ARGV '))!.slice(5);
    const commands = invocations.map((lines) => argvOf(lines).split(' ')[0]);
    for (const needed of ['init', 'backup', 'restore', 'check']) expect(commands).toContain(needed);
    for (const lines of invocations) {
      const argv = argvOf(lines);
      expect(argv).not.toContain(PASSWORD);
      expect(argv).not.toContain(secret);
      expect(argv).not.toContain(repo); // the repository URL (which may carry credentials) travels in RESTIC_REPOSITORY
      // Every command but `restic version` (which needs none) got both secrets from the environment.
      if (argv !== 'version') expect({ argv, env: lines.slice(1) }).toEqual({ argv, env: ['ENV_PASSWORD', 'ENV_SECRET'] });
    }
  });
});

async function chmodTree(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  await chmod(path, 0o777);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chmodTree(child);
    else await chmod(child, 0o666);
  }
}
