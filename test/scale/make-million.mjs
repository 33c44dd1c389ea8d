// Writes one index segment of `count` synthetic blobs (spread over fake packs) into a
// fresh repository through the engine's own format code, so opening it is the real path.
import { randomBytes, createHash } from 'node:crypto';
import { LocalStore } from '@ferry/blobstore';
import { Repository } from '@ferry/repository';
import { encodeIndexSegment } from '../../packages/repository/dist/index-segment.js';
import { AAD, seal } from '../../packages/repository/dist/crypto.js';

const [repoDir, countText] = process.argv.slice(2);
const count = Number(countText);
const store = new LocalStore({ root: repoDir });
const credential = { kind: 'password', password: 'scale' };
await Repository.init({ store, credential, scryptN: 1024 });
const repo = await Repository.open({ store, credential });
const perPack = 16;
const packs = Array.from({ length: Math.ceil(count / perPack) }, () => ({ id: randomBytes(32), type: 0 }));
const ids = randomBytes(32 * count);
const blobs = Array.from({ length: count }, (_, i) => ({ id: ids.subarray(i * 32, i * 32 + 32), packNo: Math.floor(i / perPack), offset: (i % perPack) * 1_048_609, length: 1_048_609, rawLength: 1_048_576 }));
const plain = encodeIndexSegment({ supersedes: [], packs, blobs });
const sealed = seal(repo.keys.object, AAD.index, [plain]);
await store.put(`index/${createHash('sha256').update(sealed).digest('hex')}`, sealed);
await repo.close();
console.log(JSON.stringify({ segmentBytes: sealed.length }));
