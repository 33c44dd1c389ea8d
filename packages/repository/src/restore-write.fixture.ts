/**
 * Test support (not product): restores one snapshot, run as a child process under a file
 * size limit (the parent sets RLIMIT_FSIZE and ignores SIGXFSZ), so every write past the
 * limit really fails (EFBIG) after a short write. Prints the summary as JSON.
 * argv: repository directory, snapshot id, target.
 */
import { LocalStore } from '@ferry/blobstore';
import { Repository } from './repository.js';
import { PASSWORD } from './roundtrip.fixture.js';

const [dir = '', snapshot = '', target = ''] = process.argv.slice(2);
const repo = await Repository.open({ store: new LocalStore({ root: dir }), credential: PASSWORD });
try {
  const r = await repo.restore({ snapshot, target });
  process.stdout.write(JSON.stringify({ problems: r.problems }));
} finally {
  await repo.close();
}
