import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { writeDoneMarker, writeFailedMarker } from '../markers.js';
import { runSource } from '../process.fixture.js';
import { waitFor } from '../test-hub.fixture.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop()!, { recursive: true, force: true });
});

async function volumes(n: number): Promise<{ root: string; paths: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'ferry-rw-'));
  dirs.push(root);
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    paths.push(join(root, `vol${i}`));
    await mkdir(paths[i]!);
  }
  return { root, paths };
}

describe('ferry-restore-wait (real child process)', () => {
  it('waits until every volume holds its marker, removes the markers and exits 0', async () => {
    const { paths } = await volumes(2);
    const p = runSource('restore-wait/main.ts', ['--restore-uid', 'r-1', '--poll-interval', '50ms', ...paths]);
    await waitFor(() => p.stdout().includes('waiting for restore r-1 of 2 volume(s)'), 20_000, 'restore-wait to start');
    await writeDoneMarker(paths[0]!, 'r-1');
    await new Promise((r) => setTimeout(r, 300));
    expect(p.child.exitCode).toBeNull();
    await writeDoneMarker(paths[1]!, 'r-1');
    expect(await p.exit).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toContain('all 2 volume(s) restored');
    for (const v of paths) expect(await readdir(v)).toEqual([]);
  });

  it('prints the reason of a failed-marker, writes it to the termination log and exits 1', async () => {
    const { root, paths } = await volumes(2);
    const terminationLog = join(root, 'termination-log');
    await writeDoneMarker(paths[0]!, 'r-2');
    const p = runSource('restore-wait/main.ts', ['--restore-uid', 'r-2', '--poll-interval', '50ms', '--termination-log', terminationLog, ...paths]);
    await waitFor(() => p.stdout().includes('waiting'), 20_000, 'restore-wait to start');
    await writeFailedMarker(paths[1]!, 'r-2', 'Ferry restore failed (ERROR_CODE_SNAPSHOT_NOT_FOUND): no snapshot abc');
    expect((await p.exit).code).toBe(1);
    const message = `restore of volume ${paths[1]} failed: Ferry restore failed (ERROR_CODE_SNAPSHOT_NOT_FOUND): no snapshot abc`;
    expect(p.stderr()).toContain(message);
    expect(await readFile(terminationLog, 'utf8')).toBe(message);
  });

  it('gives up after its timeout with exit code 3, naming the volumes still missing', async () => {
    const { root, paths } = await volumes(1);
    const p = runSource('restore-wait/main.ts', ['--restore-uid', 'r-3', '--timeout', '400ms', '--poll-interval', '50ms', '--termination-log', join(root, 'tl'), ...paths], {});
    expect((await p.exit).code).toBe(3);
    expect(p.stderr()).toContain(`waiting for the restore of ${paths[0]}`);
  });

  it('takes its settings from the environment and refuses bad usage with exit code 2', async () => {
    const { paths } = await volumes(1);
    await writeDoneMarker(paths[0]!, 'env-uid');
    const ok = runSource('restore-wait/main.ts', [], { FERRY_RESTORE_UID: 'env-uid', FERRY_RESTORE_VOLUMES: paths.join(',') });
    expect((await ok.exit).code).toBe(0);
    const bad = runSource('restore-wait/main.ts', ['--restore-uid', '../x', '--timeout', 'soon']);
    expect((await bad.exit).code).toBe(2);
    expect(bad.stderr()).toContain('--restore-uid "../x" must be');
    expect(bad.stderr()).toContain('--timeout "soon" is not a duration');
  });

  it('keeps its import graph tiny: node built-ins and its own small modules only', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^\s*import\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else expect(spec, `${file} imports ${spec}`).toMatch(/^node:/);
      }
    };
    visit(join(here, 'main.ts'));
    expect([...seen].map((f) => f.slice(resolve(here, '..').length + 1)).sort()).toEqual(['duration.ts', 'markers.ts', 'restore-wait/main.ts', 'restore-wait/wait.ts']);
  });
});
