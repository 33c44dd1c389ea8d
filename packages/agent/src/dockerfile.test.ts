/**
 * No Docker engine runs here, so the image is checked by reading Dockerfile.agent: every
 * path it copies from the build context exists, every path the runtime copies out of the
 * build stage exists in this tree's build output, and the entrypoints land on built files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Instruction {
  readonly stage: string;
  readonly op: string;
  readonly args: string;
}

function parseDockerfile(text: string): { instructions: Instruction[]; args: Record<string, string> } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const instructions: Instruction[] = [];
  let stage = '';
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const expanded = rest.replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? `\${${name}}`);
    if (op === 'ARG' && stage === '') {
      const [name, value] = expanded.split('=');
      args[name!] = value ?? '';
    }
    if (op === 'FROM') stage = /\sAS\s+(\S+)/i.exec(expanded)?.[1] ?? expanded;
    instructions.push({ stage, op, args: expanded });
  }
  return { instructions, args };
}

const { instructions } = parseDockerfile(readFileSync(join(root, 'Dockerfile.agent'), 'utf8'));
const copies = instructions
  .filter((i) => i.op === 'COPY')
  .map((i) => {
    const from = /--from=(\S+)/.exec(i.args)?.[1];
    const parts = i.args.replace(/--\S+/g, '').trim().split(/\s+/);
    return { stage: i.stage, from, sources: parts.slice(0, -1), dest: parts.at(-1)! };
  });

describe('Dockerfile.agent', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/agent/tsconfig.json'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('pins every base image by a versioned tag and runs the agent as non-root with labels', () => {
    const froms = instructions.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]!);
    for (const image of froms.filter((f) => f.includes(':'))) expect(image).toMatch(/^[a-z0-9./-]+:\d+(\.\d+)+[-\w.]*$/);
    expect(froms.filter((f) => f.includes(':'))).toHaveLength(4);
    const runtime = instructions.filter((i) => i.stage === 'runtime');
    expect(runtime.find((i) => i.op === 'USER')?.args).toBe('65532:65532');
    expect(runtime.find((i) => i.op === 'LABEL')?.args).toContain('org.opencontainers.image.title="ferry-agent"');
    expect(runtime.find((i) => i.op === 'VOLUME')?.args).toContain('/var/cache/ferry');
    expect(instructions.find((i) => i.stage === 'restic' && i.op === 'RUN')?.args).toMatch(/apt-get install .*\brestic\b/);
  });

  it('copies only paths that exist in the build context', () => {
    const fromContext = copies.filter((c) => c.from === undefined);
    expect(fromContext.length).toBeGreaterThan(5);
    for (const c of fromContext) for (const src of c.sources) expect(existsSync(join(root, src)), `COPY ${src}`).toBe(true);
  });

  it('takes from the build stage only what the build produces, and the entrypoints land on built files', () => {
    const fromBuild = copies.filter((c) => c.stage === 'runtime' && c.from === 'build');
    const mapping: { dest: string; src: string }[] = [];
    for (const c of fromBuild) {
      const src = c.sources[0]!.replace(/^\/src\//, '');
      expect(existsSync(join(root, src)), `COPY --from=build ${c.sources[0]}`).toBe(true);
      mapping.push({ dest: join('/opt/ferry', c.dest), src });
    }
    const inTree = (imagePath: string): string | undefined => {
      const m = mapping.find((x) => imagePath === x.dest || imagePath.startsWith(`${x.dest}/`));
      return m ? join(root, m.src, imagePath.slice(m.dest.length)) : undefined;
    };
    const entrypoint = JSON.parse(instructions.find((i) => i.stage === 'runtime' && i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint[0]).toBe('node');
    const agentMain = inTree(entrypoint[1]!);
    expect(agentMain && existsSync(agentMain), `entrypoint ${entrypoint[1]}`).toBe(true);
    const link = /ln -s (\S+) \/usr\/local\/bin\/ferry-restore-wait/.exec(instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join(' '))?.[1];
    const restoreWait = link ? inTree(link) : undefined;
    expect(restoreWait && existsSync(restoreWait), `ferry-restore-wait -> ${link}`).toBe(true);
    // The agent loads proto/ at runtime relative to packages/api/dist.
    expect(mapping.some((m) => m.dest === '/opt/ferry/proto')).toBe(true);
    // Every Ferry package the agent imports at runtime is in the image.
    const deps = Object.keys((JSON.parse(readFileSync(join(root, 'packages/agent/package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    // The native addon (through @ferry/repository): its package, its wrapper and the built binary, built in the build stage.
    for (const path of ['package.json', 'dist', 'build/Release/ferry_native.node']) {
      expect(mapping.some((m) => m.dest === `/opt/ferry/packages/native/${path}`), `@ferry/native ${path} in the image`).toBe(true);
    }
    expect(instructions.some((i) => i.stage === 'build' && i.op === 'RUN' && i.args.includes('node packages/native/build.mjs'))).toBe(true);
    for (const dep of deps.filter((d) => d.startsWith('@ferry/'))) {
      expect(mapping.some((m) => m.dest === `/opt/ferry/packages/${dep.slice(7)}/dist`), `${dep} dist in the image`).toBe(true);
    }
  });
});
