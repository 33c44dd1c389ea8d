import { randomFillSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** Scratch space in RAM: restic and its repositories are I/O bound and the disk is shared. */
export async function scratch(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join('/dev/shm', `ferry-restic-${prefix}-`));
  await chmod(dir, 0o777);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The plain restic CLI, as an operator (or Velero / K8up) would run it. */
export function plainRestic(repository: string, password: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return execa('restic', args, {
    cwd: options.cwd,
    env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: password, ...options.env },
    reject: false,
  });
}

export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
  }
}

/** `count` files of `size` random bytes each (incompressible, undeduplicable). */
export async function writeRandomFiles(root: string, count: number, size: number): Promise<void> {
  await mkdir(root, { recursive: true });
  const buf = Buffer.alloc(size);
  for (let i = 0; i < count; i++) {
    randomFillSync(buf);
    await writeFile(join(root, `random-${i}.bin`), buf);
  }
}

export interface ProcessInfo {
  readonly pid: number;
  readonly argv: string[];
  readonly cwd: string;
}

/** restic processes whose working directory is `cwd` (read from /proc, nothing killed). */
export async function resticProcessesIn(cwd: string): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      const procCwd = await readlink(`/proc/${entry}/cwd`);
      if (argv[0]?.endsWith('restic') && procCwd === cwd) found.push({ pid: Number(entry), argv, cwd: procCwd });
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}

export async function listLockIds(repository: string, password: string, env: Record<string, string> = {}): Promise<string[]> {
  const result = await plainRestic(repository, password, ['list', 'locks', '--no-lock'], { env });
  return String(result.stdout).split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l));
}

export async function waitFor(predicate: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
