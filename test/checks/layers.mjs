#!/usr/bin/env node
// Fails on import cycles between modules and on imports that cross layers the wrong way.
// Layers (docs/architecture.md): a package may import only the Ferry packages listed for
// it, and only the listed packages may import gRPC or Kubernetes client code.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALLOWED = {
  log: [],
  blobstore: [],
  native: [],
  repository: ['blobstore', 'native'],
  mover: ['blobstore', 'repository'],
  restic: ['mover'],
  api: [],
  agent: ['api', 'log', 'mover', 'restic', 'repository', 'blobstore'],
  coordinator: ['api', 'log', 'mover', 'restic', 'repository', 'blobstore'],
  cli: ['api', 'log', 'mover', 'restic', 'repository', 'blobstore'],
};
const MAY_USE_RPC = new Set(['agent', 'coordinator', 'cli']);
const RPC = /^(@grpc\/|@kubernetes\/)/;

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.ts$/.test(name) && !/\.d\.ts$/.test(name)) out.push(p);
  }
  return out;
}

// Matches static imports/exports and dynamic import() with a string literal.
const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const found = [];
  for (const m of text.matchAll(IMPORT)) found.push({ spec: m[3] ?? m[4], typeOnly: Boolean(m[2]) });
  return found;
}

const problems = [];
const graph = new Map();
for (const pkg of Object.keys(ALLOWED)) {
  const src = join(root, 'packages', pkg, 'src');
  let files;
  try {
    files = sources(src);
  } catch {
    continue;
  }
  for (const file of files) {
    const isTest = /\.(test|fixture)\.ts$/.test(file);
    const edges = [];
    for (const { spec, typeOnly } of importsOf(file)) {
      const rel = relative(root, file);
      if (spec.startsWith('@ferry/')) {
        const dep = spec.slice('@ferry/'.length).split('/')[0];
        if (dep !== pkg && !ALLOWED[pkg].includes(dep) && !isTest) problems.push(`${rel}: ${pkg} must not import @ferry/${dep}`);
      } else if (RPC.test(spec) && !MAY_USE_RPC.has(pkg) && !(pkg === 'api' && typeOnly) && !isTest) {
        problems.push(`${rel}: ${pkg} must not import ${spec} (only agent, coordinator and cli talk gRPC/Kubernetes)`);
      } else if (spec.startsWith('.')) {
        edges.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      }
    }
    graph.set(file, edges);
  }
}

// Cycle detection over module imports (Tarjan-free DFS with colours).
const colour = new Map();
const stack = [];
function visit(node) {
  colour.set(node, 1);
  stack.push(node);
  for (const next of graph.get(node) ?? []) {
    if (!graph.has(next)) continue;
    if (colour.get(next) === 1) {
      const cycle = stack.slice(stack.indexOf(next)).concat(next).map((f) => relative(root, f));
      problems.push(`import cycle: ${cycle.join(' -> ')}`);
    } else if (!colour.get(next)) visit(next);
  }
  stack.pop();
  colour.set(node, 2);
}
for (const node of graph.keys()) if (!colour.get(node)) visit(node);

if (problems.length > 0) {
  console.error(`layers: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`layers: ${graph.size} modules, no cycles, no imports across layers`);
