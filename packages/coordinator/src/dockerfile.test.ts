/**
 * No Docker engine runs here, so the image is checked by reading Dockerfile.coordinator:
 * every path copied from the context exists, every path taken from the build stage exists
 * in this tree's build output, and the entrypoint lands on the built main.js.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const lines = readFileSync(join(root, 'Dockerfile.coordinator'), 'utf8').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
let stage = '';
const instructions = lines.map((line) => {
  const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
  if (op === 'FROM') stage = /\sAS\s+(\S+)/i.exec(args)?.[1] ?? args;
  return { stage, op, args };
});
const copies = instructions.filter((i) => i.op === 'COPY').map((i) => {
  const parts = i.args.replace(/--\S+/g, '').trim().split(/\s+/);
  return { stage: i.stage, from: /--from=(\S+)/.exec(i.args)?.[1], sources: parts.slice(0, -1), dest: parts.at(-1)! };
});

describe('Dockerfile.coordinator', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/coordinator/tsconfig.json'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('runs as non-root with labels and pinned base images', () => {
    const runtime = instructions.filter((i) => i.stage === 'runtime');
    expect(runtime.find((i) => i.op === 'USER')?.args).toBe('65532:65532');
    expect(runtime.find((i) => i.op === 'LABEL')?.args).toContain('org.opencontainers.image.title="ferry-coordinator"');
    expect(instructions.find((i) => i.op === 'ARG')?.args).toMatch(/^NODE_IMAGE=node:\d+\.\d+\.\d+-/);
  });

  it('copies only paths that exist in the build context', () => {
    const fromContext = copies.filter((c) => c.from === undefined);
    expect(fromContext.length).toBeGreaterThan(5);
    for (const c of fromContext) for (const src of c.sources) expect(existsSync(join(root, src)), `COPY ${src}`).toBe(true);
  });

  it('takes from the build stage what the build produces; the entrypoint and every Ferry dependency are in the image', () => {
    const mapping = copies.filter((c) => c.stage === 'runtime' && c.from === 'build').map((c) => ({ dest: join('/opt/ferry', c.dest), src: c.sources[0]!.replace(/^\/src\//, '') }));
    for (const m of mapping) expect(existsSync(join(root, m.src)), `COPY --from=build ${m.src}`).toBe(true);
    const entry = JSON.parse(instructions.find((i) => i.stage === 'runtime' && i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entry[0]).toBe('node');
    const m = mapping.find((x) => entry[1]!.startsWith(`${x.dest}/`));
    expect(m && existsSync(join(root, m.src, entry[1]!.slice(m.dest.length))), `entrypoint ${entry[1]}`).toBe(true);
    expect(mapping.some((x) => x.dest === '/opt/ferry/proto')).toBe(true);
    const deps = Object.keys((JSON.parse(readFileSync(join(root, 'packages/coordinator/package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    // The native addon (through @ferry/repository): its package, its wrapper and the built binary, built in the build stage.
    for (const path of ['package.json', 'dist', 'build/Release/ferry_native.node']) {
      expect(mapping.some((x) => x.dest === `/opt/ferry/packages/native/${path}`), `@ferry/native ${path} in the image`).toBe(true);
    }
    expect(instructions.some((i) => i.stage === 'build' && i.op === 'RUN' && i.args.includes('node packages/native/build.mjs'))).toBe(true);
    for (const dep of deps.filter((d) => d.startsWith('@ferry/'))) expect(mapping.some((x) => x.dest === `/opt/ferry/packages/${dep.slice(7)}/dist`), dep).toBe(true);
  });
});
