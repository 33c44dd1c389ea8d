/**
 * Opening a source file to back it up. O_NOATIME keeps the read from moving the file's
 * atime, so a backup leaves the source as it found it: a restore compared with the source
 * then matches in atime too, and the next backup sees the same node. Linux allows the
 * flag only to the file's owner or with CAP_FOWNER (the agent runs as root); anyone else
 * gets EPERM, and the open is tried again without it. O_NOFOLLOW: the walker saw a
 * regular file, and a symlink swapped in since must not be followed.
 */
import { constants, open, openSync } from 'node:fs';

const READ = constants.O_RDONLY | constants.O_NOFOLLOW;
const NOATIME = constants.O_NOATIME ?? 0;

export function openSourceSync(path: Buffer): number {
  if (NOATIME === 0) return openSync(path, READ);
  try {
    return openSync(path, READ | NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    return openSync(path, READ);
  }
}

export function openSource(path: Buffer): Promise<number> {
  const attempt = (flags: number) =>
    new Promise<number>((resolve, reject) => open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
  if (NOATIME === 0) return attempt(READ);
  return attempt(READ | NOATIME).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPERM') throw err;
    return attempt(READ);
  });
}
