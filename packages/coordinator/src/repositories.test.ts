import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openResticMover } from '@ferry/restic';
import { CLUSTER_KEY_FIELD, CLUSTER_KEY_SECRET, resticPassword, type RepositoryObject } from './repositories.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function repo(namespace: string, keySecretRef: RepositoryObject['spec']['keySecretRef']): RepositoryObject {
  return { metadata: { name: `default-${namespace}` }, spec: { location: 'default', namespace, mover: 'restic', path: namespace, keySecretRef } } as RepositoryObject;
}

const clusterRef = { name: CLUSTER_KEY_SECRET, key: CLUSTER_KEY_FIELD };
/** A cluster key with a NUL byte and bytes that are not UTF-8: what one key in eight looks like. */
const awkwardKey = Buffer.from([0x00, 0xff, 0xfe, ...Array.from({ length: 29 }, (_, i) => (i * 37) & 0xff)]);

describe('resticPassword', () => {
  it('derives a text password per repository from the cluster key', () => {
    const shop = resticPassword(repo('shop', clusterRef), awkwardKey);
    expect(shop).toMatch(/^[0-9a-f]{64}$/);
    expect(resticPassword(repo('shop', clusterRef), awkwardKey)).toBe(shop);
    expect(resticPassword(repo('other', clusterRef), awkwardKey)).not.toBe(shop);
    expect(shop).not.toContain(awkwardKey.toString('hex'));
  });

  it("uses a user's own password Secret as written", () => {
    expect(resticPassword(repo('shop', { name: 'my-restic', key: 'password' }), Buffer.from('s3cret pässword'))).toBe('s3cret pässword');
  });

  it('opens a real restic repository for a key that raw would not even start restic with', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-restic-pw-'));
    dirs.push(dir);
    const password = resticPassword(repo('shop', clusterRef), awkwardKey);
    const { mover } = await openResticMover({ location: join(dir, 'repo'), password, cacheDir: join(dir, 'cache'), useId: 't' });
    await mover.init({});
    expect(await mover.snapshots({})).toEqual([]);
    const { mover: wrong } = await openResticMover({ location: join(dir, 'repo'), password: resticPassword(repo('other', clusterRef), awkwardKey), cacheDir: join(dir, 'cache'), useId: 't' });
    await expect(wrong.snapshots({})).rejects.toMatchObject({ code: 'WrongPassword' });
  });
});
