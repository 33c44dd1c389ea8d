import { mkdtemp, readdir, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, describeBlobStoreConformance, expectCode } from './conformance.fixture.js';
import { LOCAL_TEMP_PREFIX, LocalStore, mapFsError } from './local-store.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'ferry-localstore-'));
}

describeBlobStoreConformance('LocalStore', async () => {
  const dir = await tempDir();
  return { store: new LocalStore({ root: path.join(dir, 'repo') }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe('LocalStore specifics', () => {
  let dir: string;
  let store: LocalStore;
  beforeEach(async () => {
    dir = await tempDir();
    store = new LocalStore({ root: dir });
  });
  afterEach(async () => {
    await chmod(dir, 0o755).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('stores keys as files under the root and leaves no temp files after success', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.put(`data/${i % 3}/k${i}`, Buffer.from(`v${i}`))));
    await store.put('data/0/k0', Buffer.from('again'), {});
    await expectCode(store.put('data/0/k0', Buffer.from('x'), { ifNotExists: true }), 'AlreadyExists');
    const files = await filesUnder(dir);
    expect(files.length).toBe(50);
    expect(files.some((f) => path.basename(f).startsWith(LOCAL_TEMP_PREFIX))).toBe(false);
    expect(files).toContain(path.join('data', '0', 'k0'));
  });

  it('leaves no temp file when a put fails, and keeps the old object', async () => {
    await store.put('sub/obj', Buffer.from('old'));
    const sub = path.join(dir, 'sub');
    await mkdir(path.join(sub, 'obj2'), { recursive: true }); // a directory where a file should go
    await expectCode(store.put('sub/obj2', Buffer.from('new')), 'NotFound');
    expect((await readdir(sub)).filter((n) => n.startsWith(LOCAL_TEMP_PREFIX))).toEqual([]);
    expect((await store.get('sub/obj')).toString()).toBe('old');
  });

  it('ignores stray temp files in listings and refuses keys that look like them', async () => {
    await store.put('data/a', Buffer.from('a'));
    await writeFile(path.join(dir, 'data', `${LOCAL_TEMP_PREFIX}crashed`), 'partial');
    expect(await collect(store.list('data/'))).toEqual([{ key: 'data/a', size: 1 }]);
    await expectCode(store.put(`data/${LOCAL_TEMP_PREFIX}x`, Buffer.from('x')), 'InvalidKey');
  });

  it('maps permission errors to PermissionDenied', async () => {
    if (process.getuid?.() === 0) {
      // root ignores modes; the mapping itself is checked below
      expect(mapFsError(Object.assign(new Error('EACCES'), { code: 'EACCES' }), 'put k').code).toBe('PermissionDenied');
      return;
    }
    await chmod(dir, 0o500);
    await expectCode(store.put('k', Buffer.from('x')), 'PermissionDenied');
  });

  it('maps fs error codes to store codes with a hint', () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: failure`), { code });
    const cases: Record<string, string> = {
      ENOENT: 'NotFound',
      ENOSPC: 'NoSpace',
      EDQUOT: 'NoSpace',
      EACCES: 'PermissionDenied',
      EPERM: 'PermissionDenied',
      EROFS: 'PermissionDenied',
      EIO: 'Unavailable',
      EEXIST: 'AlreadyExists',
      EWHATEVER: 'Internal',
    };
    for (const [code, expected] of Object.entries(cases)) {
      const mapped = mapFsError(errno(code), 'put data/k to local:/repo', 'data/k');
      expect(mapped.code, code).toBe(expected);
      expect(mapped.key).toBe('data/k');
      expect(mapped.message).toContain('put data/k to local:/repo');
    }
    expect(mapFsError(errno('ENOSPC'), 'put k').message).toMatch(/free space/);
    expect(mapFsError(errno('EIO'), 'put k').retriable).toBe(true);
    expect(mapFsError(errno('ENOSPC'), 'put k').retriable).toBe(false);
  });

  it('creates the root on the first put and lists an absent root as empty', async () => {
    const nested = new LocalStore({ root: path.join(dir, 'not', 'yet') });
    expect(await collect(nested.list(''))).toEqual([]);
    expect(await nested.stat('config')).toBeUndefined();
    await nested.put('config', Buffer.from('c'));
    expect(await filesUnder(path.join(dir, 'not', 'yet'))).toEqual(['config']);
  });

  it('names its directory in the description', () => {
    expect(store.description).toBe(`local:${dir}`);
  });
});
