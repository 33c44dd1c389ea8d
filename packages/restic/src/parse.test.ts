import { describe, expect, it } from 'vitest';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions, detectRestic, parseResticVersion } from './binary.js';
import { describeRepository, mapResticFailure } from './errors.js';
import { identityFromSnapshot, identityHost, identityTags } from './identity.js';
import { judgeLock, type ResticLock } from './locks.js';
import { parseCheckProblems, parsePrune, parseSize } from './parse.js';
import { scratch } from './restic.fixture.js';

const fail = (stderr: string, secrets: string[] = []) =>
  mapResticFailure({ command: 'backup', repository: '/repo', exitCode: 1, stderr, secrets });

describe('restic error mapping (messages as restic 0.14 prints them)', () => {
  it.each([
    ['Fatal: wrong password or no key found\n', 'WrongPassword'],
    ['Fatal: unable to open config file: stat /x/config: no such file or directory\nIs there a repository at the following location?\n/x\n', 'RepositoryNotFound'],
    ['unable to create lock in backend: repository is already locked by PID 7403 on otherhost by root (UID 0, GID 0)\n', 'RepositoryLocked'],
    ['invalid id "deadbeef": no matching ID found for prefix "deadbeef"\n', 'SnapshotNotFound'],
    ['Fatal: unable to open config file: Stat: The specified bucket does not exist.\n', 'RepositoryNotFound'],
    ['Fatal: unable to open repository at s3:http://127.0.0.1:1/b: Get "http://127.0.0.1:1/b/?location=": dial tcp 127.0.0.1:1: connect: connection refused\n', 'Network'],
    ['Fatal: unable to open config file: Stat: Access Denied.\n', 'PermissionDenied'],
    ['Fatal: unable to open config file: Stat: Get "http://127.0.0.1:1/b/?location=": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\n', 'Network'],
    ['Fatal: unable to save snapshot: write /repo/data/aa: no space left on device\n', 'NoSpace'],
    ['Fatal: repository contains errors\n', 'RepositoryCorrupt'],
    ['something new and strange\n', 'Internal'],
  ])('%s → %s', (stderr, code) => {
    expect(fail(stderr).code).toBe(code);
  });

  it('names the repository and a fix, and never a secret', () => {
    const err = fail('Fatal: wrong password or no key found for hunter2-secret\n', ['hunter2-secret']);
    expect(err.message).toContain('/repo');
    expect(err.message).toContain('check the repository password');
    expect(err.message).not.toContain('hunter2-secret');
  });

  it('strips credentials from repository URLs', () => {
    expect(describeRepository('rest:https://user:pw@host:8000/repo')).toBe('rest:https://host:8000/repo');
  });
});

describe('stale lock rule (restic 0.14 lock.Stale)', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const lock = (over: Partial<ResticLock>): ResticLock => ({
    id: 'a'.repeat(64), time: new Date(now - 60_000), exclusive: false, hostname: 'node-a', username: 'root', pid: 42, ...over,
  });
  const ctx = (alive: boolean) => ({ hostname: 'node-a', nowMs: now, pidAlive: () => alive });

  it('same host, dead PID: stale', () => expect(judgeLock(lock({}), ctx(false)).stale).toBe(true));
  it('same host, live PID: kept', () => expect(judgeLock(lock({}), ctx(true)).stale).toBe(false));
  it('other host, young: kept even though we cannot see its PID', () =>
    expect(judgeLock(lock({ hostname: 'node-b' }), ctx(false)).stale).toBe(false));
  it('older than 30 minutes: stale wherever it came from', () =>
    expect(judgeLock(lock({ hostname: 'node-b', time: new Date(now - 31 * 60_000) }), ctx(true)).stale).toBe(true));
  it('29 minutes on another host: kept', () =>
    expect(judgeLock(lock({ hostname: 'node-b', time: new Date(now - 29 * 60_000) }), ctx(true)).stale).toBe(false));
});

describe('identity mapping', () => {
  it('round-trips a pod identity through host and tags', () => {
    const id = { kind: 'pod', namespace: 'shop', pod: 'db-0', volume: 'data', pvcUid: 'u-1', podUid: 'p-1' } as const;
    expect(identityHost(id)).toBe('shop/db-0');
    expect(identityFromSnapshot(identityHost(id), ['/x'], [...identityTags(id), 'user'])).toEqual(id);
  });
  it('maps a snapshot without Ferry tags to a host identity', () => {
    expect(identityFromSnapshot('velero', ['/host_pods/u/volumes/v'], ['pod=x'])).toEqual({ kind: 'host', host: 'velero', path: '/host_pods/u/volumes/v' });
  });
  it('rejects tags restic would split', () => {
    expect(() => identityTags({ kind: 'pod', namespace: 'a,b', pod: 'p', volume: 'v' })).toThrow(/commas/);
  });
});

describe('output parsers', () => {
  it('parses sizes and prune totals', () => {
    expect(parseSize('2.862 MiB')).toBe(Math.round(2.862 * 2 ** 20));
    const out = 'total prune:           5 blobs / 2.862 MiB\nremaining: 9 blobs / 1.604 KiB\nremoving 2 old packs\n';
    expect(parsePrune(out)).toEqual({ bytesFreed: Math.round(2.862 * 2 ** 20), packsDeleted: 2 });
  });
  it('keeps only problem lines of check output', () => {
    const out = 'using temporary cache in /tmp/x\ncreate exclusive lock for repository\nload indexes\ncheck all packs\nPack ID does not match, want 1234abcd, got 99999999\n[0:00] 100.00%  3 / 3 packs\nFatal: repository contains errors\n';
    expect(parseCheckProblems(out)).toEqual([{ message: 'Pack ID does not match, want 1234abcd, got 99999999', object: '1234abcd' }]);
  });
});

describe('detectRestic', () => {
  it('finds the installed restic and its version', async () => {
    const found = await detectRestic();
    expect(compareVersions(found.version, { major: 0, minor: 14, patch: 0 })).toBeGreaterThanOrEqual(0);
    expect(found.versionText).toMatch(/^restic 0\.\d+\.\d+/);
  });

  it('reports a missing binary as BinaryMissing', async () => {
    await expect(detectRestic({ binary: '/nonexistent/restic' })).rejects.toMatchObject({ code: 'BinaryMissing' });
  });

  it('reports restic older than 0.14 as Unsupported', async () => {
    const { dir, cleanup } = await scratch('oldbin');
    try {
      const fake = join(dir, 'restic');
      await writeFile(fake, '#!/bin/sh\necho "restic 0.9.6 compiled with go1.13.4 on linux/amd64"\n');
      await chmod(fake, 0o755);
      await expect(detectRestic({ binary: fake })).rejects.toMatchObject({ code: 'Unsupported', message: expect.stringContaining('0.9.6') });
      expect(parseResticVersion('restic 0.16.4 compiled with go1.21')).toEqual({ major: 0, minor: 16, patch: 4 });
    } finally {
      await cleanup();
    }
  });
});
