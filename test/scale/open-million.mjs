// Child process for scale.test.ts: builds (or opens) a repository whose index holds
// `count` blobs, opens it under the heap limit the test passes to node, backs up a small
// directory (which must deduplicate against the big index) and prints memory figures.
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStore } from '@ferry/blobstore';
import { Repository } from '@ferry/repository';

const [repoDir, srcDir, countText] = process.argv.slice(2);
const count = Number(countText);
const store = new LocalStore({ root: repoDir });
const credential = { kind: 'password', password: 'scale' };
const repo = await Repository.open({ store, credential });
const before = process.memoryUsage();
const bytesPerBlobAfterOpen = repo.index.bytesUsed() / repo.index.blobCount;
mkdirSync(srcDir, { recursive: true });
writeFileSync(join(srcDir, 'a'), randomBytes(100_000));
const s = await repo.backup({ source: { kind: 'paths', paths: [srcDir] }, identity: { kind: 'host', host: 'scale', path: srcDir } });
if (global.gc) global.gc();
const after = process.memoryUsage();
console.log(JSON.stringify({
  blobs: repo.index.blobCount,
  indexBytes: repo.index.bytesUsed(),
  bytesPerBlobAfterOpen,
  bytesPerBlob: repo.index.bytesUsed() / repo.index.blobCount,
  rssAfterOpen: before.rss,
  heapUsedAfterOpen: before.heapUsed,
  rssAfterBackup: after.rss,
  snapshot: s.snapshot.id,
  expected: count,
  digest: createHash('sha256').update(String(repo.index.blobCount)).digest('hex').slice(0, 8),
}));
await repo.close();
