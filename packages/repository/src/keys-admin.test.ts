import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { LocalStore } from '@ferry/blobstore';
import { newRepository, PASSWORD, tempDir } from './roundtrip.fixture.js';
import { Repository } from './repository.js';
import { addKey, changeKey, describeToken, exportKey, importKey, listKeys, removeKey } from './keys-admin.js';
import { isRepositoryError } from './errors.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
async function setup() {
  const d = await tempDir();
  cleanups.push(d.cleanup);
  const repo = await newRepository(d.path);
  cleanups.push(() => repo.close());
  const store = new LocalStore({ root: d.path });
  return { repo, store };
}
const pw = (password: string) => ({ kind: 'password' as const, password });

describe('key slots', () => {
  it('opens with any slot, refuses to remove the last or the current one, and changes a password', async () => {
    const { repo, store } = await setup();
    const second = await addKey(repo, pw('second'), { scryptN: 1024, label: 'ops' });
    const cluster = randomBytes(32);
    await addKey(repo, { kind: 'cluster', key: cluster });
    expect((await listKeys(repo)).map((k) => [k.kind, k.current])).toEqual([
      ['password', true],
      ['password', false],
      ['cluster', false],
    ]);
    for (const credential of [pw('second'), { kind: 'cluster' as const, key: cluster }]) {
      const r = await Repository.open({ store, credential });
      expect(r.id).toBe(repo.id);
      await r.close();
    }
    await expect(Repository.open({ store, credential: { kind: 'cluster', key: randomBytes(32) } })).rejects.toSatisfy((e) => isRepositoryError(e, 'WrongPassword'));
    const current = (await listKeys(repo)).find((k) => k.current)!;
    await expect(removeKey(repo, current.id)).rejects.toThrow(/opened this session/);
    await removeKey(repo, second.id);
    await expect(Repository.open({ store, credential: pw('second') })).rejects.toSatisfy((e) => isRepositoryError(e, 'WrongPassword'));

    await changeKey(repo, pw('new password'), { scryptN: 1024 });
    await expect(Repository.open({ store, credential: PASSWORD })).rejects.toSatisfy((e) => isRepositoryError(e, 'WrongPassword'));
    const reopened = await Repository.open({ store, credential: pw('new password') });
    const keys = await listKeys(reopened);
    expect(keys).toHaveLength(2);
    const clusterSlot = keys.find((k) => k.kind === 'cluster')!;
    await removeKey(reopened, clusterSlot.id);
    await expect(removeKey(reopened, keys.find((k) => k.current)!.id)).rejects.toThrow(/last key slot|opened this session/);
    await reopened.close();
  });
});

describe('export tokens', () => {
  it('moves the key to another cluster wrapped for a password, never in the clear unless forced', async () => {
    const { repo, store } = await setup();
    const token = await exportKey(repo, { location: store.description, password: 'transfer', scryptN: 1024 });
    expect(Buffer.from(token, 'base64url').toString()).not.toContain(repo.secrets.master.toString('base64'));
    expect(describeToken(token)).toMatchObject({ repositoryId: repo.id, wrapped: true });
    await expect(exportKey(repo, { location: 'x', includeKey: true })).rejects.toThrow(/--force/);

    const otherCluster = randomBytes(32);
    await expect(importKey({ store, token, tokenPassword: 'wrong', credential: { kind: 'cluster', key: otherCluster } })).rejects.toSatisfy((e) => isRepositoryError(e, 'WrongPassword'));
    const imported = await importKey({ store, token, tokenPassword: 'transfer', credential: { kind: 'cluster', key: otherCluster }, scryptN: 1024 });
    expect(imported.repositoryId).toBe(repo.id);
    const there = await Repository.open({ store, credential: { kind: 'cluster', key: otherCluster } });
    expect(there.id).toBe(repo.id);
    await there.close();

    const plain = await exportKey(repo, { location: 'x', includeKey: true, force: true });
    await importKey({ store, token: plain, credential: pw('from plain token'), scryptN: 1024 });
    await (await Repository.open({ store, credential: pw('from plain token') })).close();
  });

  it('refuses a token for another repository and text that is not a token', async () => {
    const a = await setup();
    const b = await setup();
    const token = await exportKey(a.repo, { location: 'a', password: 'p', scryptN: 1024 });
    await expect(importKey({ store: b.store, token, tokenPassword: 'p', credential: pw('x') })).rejects.toThrow(/token is for repository/);
    await expect(importKey({ store: b.store, token: 'hello', credential: pw('x') })).rejects.toThrow(/not a Ferry key token/);
  });
});
