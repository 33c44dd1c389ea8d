/**
 * Makes the restore target ready before any data is read: its missing directories are
 * created one component at a time (Node's recursive mkdir retries ENOENT forever under
 * /proc, spinning at full CPU), and a probe file proves something can be created in it.
 * Every failure names the path and the errno, once: nothing here retries.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { RepositoryError } from './errors.js';

const FIX = 'choose a directory you can write to';

export async function prepareTarget(target: string): Promise<void> {
  await createDirectories(target);
  await probeWritable(target);
}

async function createDirectories(target: string): Promise<void> {
  const missing: string[] = [];
  // Walk up to the first directory that exists; the walk ends at the root.
  for (let dir = resolve(target); ; dir = dirname(dir)) {
    const kind = await fs.stat(dir).then((s) => (s.isDirectory() ? 'dir' : 'other'), (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 'missing' : err));
    if (kind === 'dir') break;
    if (kind === 'other') throw new RepositoryError('InvalidArgument', `cannot create restore target ${target}: ${dir} exists and is not a directory; ${FIX}`);
    if (kind !== 'missing') throw new RepositoryError('InvalidArgument', `cannot create restore target ${target}: stat ${dir} failed (${errnoText(kind)}); ${FIX}`, { cause: kind });
    if (dir === dirname(dir)) break;
    missing.unshift(dir);
  }
  for (const dir of missing) {
    await fs.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return; // made meanwhile by someone else
      throw new RepositoryError('InvalidArgument', `cannot create restore target ${target}: mkdir ${dir} failed (${errnoText(err)}); ${FIX}`, { cause: err });
    });
  }
}

async function probeWritable(target: string): Promise<void> {
  const probe = `${resolve(target)}/.ferry-restore-probe-${randomBytes(6).toString('hex')}`;
  const handle = await fs.open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch((err: NodeJS.ErrnoException) => {
    throw new RepositoryError('InvalidArgument', `restore target ${target} is not writable (${errnoText(err)}); ${FIX}`, { cause: err });
  });
  await handle.close();
  await fs.unlink(probe);
}

function errnoText(err: NodeJS.ErrnoException): string {
  const message = err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  return err.code ? `${err.code}: ${message}` : message;
}
