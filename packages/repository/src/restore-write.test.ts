/**
 * The restorer's write loops are bounded: a write syscall that fails (EFBIG past a real
 * RLIMIT_FSIZE, after a short write that stops at the limit) ends that file with a problem
 * naming the error, and the restore returns. Both paths are exercised: small files written
 * in a blob worker (file-writer.ts) and large ones from the main thread (restorer.ts).
 * Bounded is shown by counts, not a timer: exactly one problem per file and exactly the
 * limit's bytes on disk, i.e. the short write was continued once and the failing one not
 * retried.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupScope, newRepository } from './roundtrip.fixture.js';

const run = promisify(execFile);
const scope = cleanupScope();
afterEach(scope.cleanup);
const LIMIT_KIB = 64;

describe('restore writes into a target that refuses them', () => {
  it('a small and a large file past RLIMIT_FSIZE each end with one EFBIG problem and exactly the limit written', async () => {
    const dir = await scope.dir();
    const src = await scope.dir();
    const repo = await newRepository(dir);
    await mkdir(join(src, 'd'));
    await writeFile(join(src, 'd', 'small'), randomBytes(200 * 1024));
    await writeFile(join(src, 'd', 'large'), randomBytes(3 * 1024 * 1024));
    const snapshot = (await repo.backup({ source: { kind: 'paths', paths: [src] }, identity: { kind: 'host', host: 'test', path: '/src' } })).snapshot.id;
    await repo.close();
    const target = join(await scope.dir(), 'restored');

    // SIGXFSZ ignored in the shell stays ignored across exec, so the write returns EFBIG instead of killing node.
    const script = `trap '' XFSZ; ulimit -f ${LIMIT_KIB}; exec "$0" --conditions=ferry-source --import tsx packages/repository/src/restore-write.fixture.ts "$@"`;
    const { stdout } = await run('bash', ['-c', script, process.execPath, dir, snapshot, target], { cwd: join(import.meta.dirname, '../../..'), timeout: 120_000 });
    const { problems } = JSON.parse(stdout) as { problems: { path: string; message: string }[] };

    const of = (name: string) => problems.filter((p) => p.path.endsWith(`d/${name}`));
    for (const name of ['small', 'large']) {
      expect(of(name)).toHaveLength(1);
      expect(of(name)[0]!.message).toMatch(/EFBIG|file too large/i);
    }
    const restoredRoot = join(target, src.replace(/^\//, ''));
    const sizes = await Promise.all(['small', 'large'].map(async (n) => (await stat(join(restoredRoot, 'd', n)).catch(() => stat(join(target, 'd', n)))).size));
    expect(sizes).toEqual([LIMIT_KIB * 1024, LIMIT_KIB * 1024]);
  });
});
