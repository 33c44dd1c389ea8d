import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStore } from '@ferry/blobstore';
import { PASSWORD, newRepository, tempDir } from './roundtrip.fixture.js';
import { Repository } from './repository.js';
import { forgetSnapshots } from './forget.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('forget', () => {
  it('keeps what the policy keeps per lineage, deletes the rest, and a dry run deletes nothing', async () => {
    const [r, src] = [await tempDir(), await tempDir()];
    cleanups.push(r.cleanup, src.cleanup);
    await newRepository(r.path).then((x) => x.close());
    const t = { now: Date.parse('2026-03-01T12:00:00Z') };
    const repo = await Repository.open({ store: new LocalStore({ root: r.path }), credential: PASSWORD, clock: { now: () => t.now } });
    cleanups.push(() => repo.close());
    await writeFile(join(src.path, 'f'), 'x');
    const ids: string[] = [];
    for (let day = 0; day < 5; day++) {
      for (const path of ['/a', '/b']) {
        const s = await repo.backup({ source: { kind: 'paths', paths: [src.path] }, identity: { kind: 'host', host: 'h', path } });
        ids.push(s.snapshot.id);
      }
      t.now += 86_400_000;
    }
    const dry = await forgetSnapshots(repo, { policy: { keepLast: 2 }, dryRun: true });
    expect(dry.groups.map((g) => g.key)).toEqual(['host h:/a', 'host h:/b']);
    expect(dry.removed).toHaveLength(6);
    expect(await repo.listSnapshots()).toHaveLength(10);
    const real = await forgetSnapshots(repo, { policy: { keepLast: 2 }, identity: { kind: 'host', host: 'h', path: '/a' } });
    expect(real.removed).toHaveLength(3);
    const left = await repo.listSnapshots();
    expect(left).toHaveLength(7);
    expect(left.filter((s) => s.identity.kind === 'host' && s.identity.path === '/a').map((s) => s.id)).toEqual([ids[6], ids[8]]);
    await expect(forgetSnapshots(repo, { policy: {} })).rejects.toThrow(/at least one keep rule/);
  });
});
