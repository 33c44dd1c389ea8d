/**
 * The engine's side of bit-exact restores, call by call: sparse files read by their data
 * extents, xattrs with their cap, nanosecond times, special files and what is reported
 * (never silently lost) when something cannot be restored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { closeSync, ftruncateSync, lstatSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { execFileSync } from 'node:child_process';
import { getXattr, makeSpecial, setTimes, setXattr } from '@ferry/native';
import { newRepository, tempDir } from './roundtrip.fixture.js';
import { readXattrs } from './xattrs.js';
import { applyMetaSync } from './restore-metadata.js';
import type { Repository } from './repository.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(): Promise<{ repo: Repository; src: string; out: string }> {
  const [r, s, o] = [await tempDir('ferry-repo-'), await tempDir('ferry-src-'), await tempDir('ferry-out-')];
  const repo = await newRepository(r.path);
  cleanups.push(r.cleanup, s.cleanup, o.cleanup, () => repo.close());
  return { repo, src: s.path, out: o.path };
}
const identity = (path: string) => ({ kind: 'host' as const, host: 'test', path });
const MIB = 1024 * 1024;

describe('sparse files', () => {
  it('reads only the data extents of a 256 MiB file with 8 KiB of data and restores its holes', async () => {
    const { repo, src, out } = await setup();
    const fd = openSync(join(src, 'disk.img'), 'w');
    ftruncateSync(fd, 256 * MIB);
    writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 0);
    writeSync(fd, Buffer.alloc(4096, 2), 0, 4096, 200 * MIB);
    closeSync(fd);
    const backup = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    expect(backup.problems).toEqual([]);
    expect(backup.bytesRead).toBe(8192);
    const [node] = await repo.readTree(backup.snapshot.tree);
    expect(node).toMatchObject({ size: 256 * MIB, extents: [{ offset: 0, length: 4096 }, { offset: 200 * MIB, length: 4096 }] });
    const restored = await repo.restore({ snapshot: backup.snapshot.id, target: out });
    expect(restored.problems).toEqual([]);
    const st = lstatSync(join(out, 'disk.img'));
    expect(st.size).toBe(256 * MIB);
    expect(st.blocks).toBe(lstatSync(join(src, 'disk.img')).blocks);
    expect(readFileSync(join(out, 'disk.img')).equals(readFileSync(join(src, 'disk.img')))).toBe(true);
    // Dump and cat see every byte, holes as zeros.
    let total = 0;
    for await (const piece of repo.readFile(node!)) total += piece.length;
    expect(total).toBe(256 * MIB);
  });
});

describe('metadata', () => {
  it('restores nanosecond times of files, directories, symlinks and FIFOs, and reports a socket with its reason', async () => {
    const { repo, src, out } = await setup();
    writeFileSync(join(src, 'f'), 'x');
    symlinkSync('f', join(src, 'l'));
    makeSpecial(join(src, 'p'), { kind: 'fifo', mode: 0o600 });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(src, 'sock'), resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const times = new Map([['f', 1_234_567_890_123_456_789n], ['l', 987_654_321_000_000_001n], ['p', 1n], ['.', 4_102_444_800_000_000_007n]]);
    for (const [name, ns] of times) setTimes(join(src, name), { atimeNs: ns, mtimeNs: ns }, { noFollow: true });
    const backup = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    const restored = await repo.restore({ snapshot: backup.snapshot.id, target: join(out, 'x') });
    expect(restored.problems).toEqual([{ path: 'sock', message: expect.stringMatching(/^socket not restored: .*server/) }]);
    for (const [name, ns] of times) {
      if (name === '.') continue;
      expect(lstatSync(join(out, 'x', name), { bigint: true }).mtimeNs, name).toBe(ns);
    }
    expect(lstatSync(join(out, 'x', 'p')).isFIFO()).toBe(true);
  });

  it('backs up xattrs and ACLs, and names the attributes left out above the cap', async () => {
    const { repo, src, out } = await setup();
    const f = join(src, 'f');
    writeFileSync(f, 'x');
    setXattr(f, 'user.a', Buffer.from('12345'));
    setXattr(f, 'user.b', Buffer.from('67890'));
    execFileSync('setfacl', ['-m', 'u:4242:r', f]);
    expect(readXattrs(f, 20)).toEqual({
      xattrs: [{ name: 'user.a', value: Buffer.from('12345') }],
      problems: ['extended attributes system.posix_acl_access, user.b not stored: more than 20 bytes of attributes on one file'],
    });
    const backup = await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: identity(src) });
    await repo.restore({ snapshot: backup.snapshot.id, target: out });
    expect(getXattr(join(out, 'f'), 'user.b').toString()).toBe('67890');
    expect(execFileSync('getfacl', ['-n', '-c', join(out, 'f')], { encoding: 'utf8' })).toContain('user:4242:r--');
  });

  it('reports an attribute the target cannot take per file, and still sets the rest', () => {
    const dir = join(process.env['TMPDIR'] ?? '/tmp', `ferry-meta-${process.pid}`);
    execFileSync('mkdir', ['-p', dir]);
    cleanups.push(async () => void execFileSync('rm', ['-rf', dir]));
    const link = join(dir, 'l');
    symlinkSync('nowhere', link);
    // Linux refuses user.* on symlinks: the restore of such an attribute must say so.
    const problems = applyMetaSync({ path: Buffer.from(link), symlink: true }, { mode: 0o777, uid: process.getuid!(), gid: process.getgid!(), mtimeNs: 5_000_000_123n, xattrs: [{ name: 'user.x', value: Buffer.from('1') }] });
    expect(problems).toEqual([expect.stringMatching(/^could not restore extended attribute user\.x: EPERM/)]);
    expect(lstatSync(link, { bigint: true }).mtimeNs).toBe(5_000_000_123n);
  });
});
