#!/usr/bin/env node
// Ferry vs restic on the same generated data, on tmpfs and on disk. See README.md here.
//   BENCH_SCALE=0.1   data size factor (1 = 1 GiB large files, 100k small files, 1 GiB image)
//   BENCH_RUNS=3      repetitions of every measurement (the median is reported)
//   BENCH_MEDIA=tmpfs,disk,s3 (s3: repositories in Ceph RGW; BENCH_S3_ENDPOINT to use a running one)
//   BENCH_DATASETS=large,small,onefile
//   BENCH_TOOLS=ferry,restic,restic-mover   BENCH_RESULTS=path/to/results.json
//   BENCH_BASELINE_CLI=/path/to/other/packages/cli/dist/main.js adds tool "ferry-baseline"
//     (put it in BENCH_TOOLS) to compare two builds in one run on a noisy machine
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureCeiling } from './ceiling.mjs';
import { generateLarge, generateOnefile, generateSmall, mutatePages, plan } from './data.mjs';
import { duBytes, median, rssMethod } from './measure.mjs';
import { pageReportingState, warmMemory } from './memory.mjs';
import { derive, renderTable, summarize } from './report.mjs';
import { FERRY_CLI, TOOLS } from './tools.mjs';
import { openS3Medium } from './s3.mjs';

const env = process.env;
const config = {
  scale: Number(env.BENCH_SCALE ?? 1),
  runs: Math.max(1, Number(env.BENCH_RUNS ?? 3)),
  media: (env.BENCH_MEDIA ?? 'tmpfs,disk').split(',').filter(Boolean),
  datasets: (env.BENCH_DATASETS ?? 'large,small,onefile').split(',').filter(Boolean),
  tools: (env.BENCH_TOOLS ?? 'ferry,restic,restic-mover').split(',').filter(Boolean),
  seed: Number(env.BENCH_SEED ?? 20261123),
};
// s3: data on tmpfs, repositories in an RGW bucket (see s3.mjs).
const MEDIA_ROOTS = { tmpfs: '/dev/shm', disk: env.BENCH_DISK_DIR ?? '/var/tmp', s3: '/dev/shm' };
const resultsFile =
  env.BENCH_RESULTS ?? fileURLToPath(new URL(`./results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url));

const toRemove = new Set();
async function cleanup() {
  for (const dir of toRemove) await rm(dir, { recursive: true, force: true });
  toRemove.clear();
}
process.on('SIGINT', () => {
  console.error('\nbench: interrupted, removing data directories');
  cleanup().finally(() => process.exit(130));
});

function log(message) {
  console.error(`bench: ${message}`);
}

function preflight() {
  for (const t of config.tools) if (!(t in TOOLS)) throw new Error(`unknown tool ${t} in BENCH_TOOLS`);
  for (const m of config.media) if (!(m in MEDIA_ROOTS)) throw new Error(`unknown medium ${m} in BENCH_MEDIA (tmpfs, disk)`);
  if (config.tools.includes('ferry') && !existsSync(FERRY_CLI)) throw new Error(`${FERRY_CLI} missing: run "npm run build" first`);
  const resticVersion = execFileSync('restic', ['version'], { encoding: 'utf8' }).trim();
  return { resticVersion };
}

async function generateAll(dataRoot, p) {
  const sets = {};
  const started = performance.now();
  if (config.datasets.includes('large')) sets.large = await generateLarge(dataRoot, p.large, config.seed);
  if (config.datasets.includes('small')) sets.small = await generateSmall(dataRoot, p.small, config.seed);
  if (config.datasets.includes('onefile')) sets.onefile = await generateOnefile(dataRoot, p.onefile, config.seed);
  log(`generated data in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return sets;
}

async function ceilingFor(dataRoot, p) {
  const files = Array.from({ length: p.large.files }, (_, i) => join(dataRoot, 'large', `file-${i}.bin`));
  if (!files.every((f) => existsSync(f))) return undefined;
  const runs = [];
  for (let i = 0; i < config.runs; i++) runs.push(await measureCeiling(files));
  const seconds = median(runs.map((r) => r.seconds));
  return {
    mbPerSecond: Math.round(runs[0].bytes / 1e6 / seconds),
    seconds,
    workers: runs[0].workers,
    chunker: runs[0].chunker,
  };
}

/** One tool through every phase of one data set, on a fresh repository. */
async function runScenario(tool, set, name, base, run, record, s3) {
  const repoName = `repo-${tool.name}-${name}-${run}`;
  const repo = s3 ? s3.url(repoName) : join(base, `repo-${tool.name}`);
  const repoSize = () => (s3 ? s3.size(repoName) : duBytes(repo));
  const removeRepo = () => (s3 ? s3.remove(repoName) : rm(repo, { recursive: true, force: true }));
  const cache = join(base, `cache-${tool.name}`);
  const target = join(base, `restore-${tool.name}`);
  await removeRepo();
  for (const d of [cache, target]) await rm(d, { recursive: true, force: true });
  await mkdir(cache, { recursive: true });
  // restic init wants a missing or empty directory; Ferry's init creates it.
  await tool.init(repo, cache);
  let size = await repoSize();
  let lastSnapshot;
  const phase = async (phaseName, action) => {
    // A command writes at most the data set once more (a repository or a restore target,
    // a page or more per file) and keeps a few hundred MiB of its own.
    await warmMemory(base, Math.max(set.bytes, set.files * 8192) * 1.25 + (512 << 20));
    const m = await action();
    const now = await repoSize();
    record(phaseName, { seconds: m.seconds, rssKiB: m.peakRssKiB, bytesAdded: now - size });
    size = now;
    if (m.snapshotId) lastSnapshot = m.snapshotId;
  };
  let mutation;
  try {
    await phase('first backup', () => tool.backup(repo, set.path, cache));
    await phase('unchanged re-backup', () => tool.backup(repo, set.path, cache));
    if (name === 'onefile') {
      mutation = await mutatePages(set.file, set.bytes, 0.01, config.seed + run);
      await phase('changed re-backup', () => tool.backup(repo, set.path, cache));
    }
    await phase('restore', () => tool.restore(repo, lastSnapshot, target, cache));
    const restored = await duBytes(target);
    if (restored < set.bytes) throw new Error(`${tool.name} restored ${restored} bytes, expected at least ${set.bytes}`);
  } finally {
    if (mutation) await mutation.revert();
    await removeRepo();
    for (const d of [cache, target]) await rm(d, { recursive: true, force: true });
  }
}

async function benchMedium(mediumName, p) {
  const root = MEDIA_ROOTS[mediumName];
  const base = await mkdtemp(join(root, 'ferry-bench-'));
  toRemove.add(base);
  const s3 = mediumName === 's3' ? await openS3Medium() : undefined;
  log(`${mediumName}: data${s3 ? '' : ' and repositories'} under ${base}${s3 ? `, repositories in ${s3.description}` : ''}`);
  try {
    const sets = await generateAll(join(base, 'data'), p);
    const ceiling = await ceilingFor(join(base, 'data'), p);
    if (ceiling) log(`${mediumName}: ceiling ${ceiling.mbPerSecond} MB/s (${ceiling.chunker} chunker)`);
    const samples = new Map();
    const record = (dataset, tool) => (phaseName, s) => {
      const key = `${dataset}\0${phaseName}`;
      if (!samples.has(key)) samples.set(key, { dataset, phase: phaseName, tools: {} });
      const t = (samples.get(key).tools[tool] ??= { seconds: [], rssKiB: [], bytesAdded: [], errors: [] });
      t.seconds.push(s.seconds);
      t.rssKiB.push(s.rssKiB);
      t.bytesAdded.push(s.bytesAdded);
    };
    for (const name of config.datasets) {
      const set = sets[name];
      for (let run = 1; run <= config.runs; run++) {
        for (const toolName of config.tools) {
          log(`${mediumName} ${name} run ${run}/${config.runs}: ${toolName}`);
          try {
            await runScenario(TOOLS[toolName], set, name, base, run, record(name, toolName), s3);
          } catch (err) {
            log(`  ${toolName} failed: ${err.message}`);
            const key = `${name}\0first backup`;
            if (!samples.has(key)) samples.set(key, { dataset: name, phase: 'first backup', tools: {} });
            (samples.get(key).tools[toolName] ??= { seconds: [], rssKiB: [], bytesAdded: [], errors: [] }).errors.push(err.message);
          }
        }
      }
    }
    const rows = [...samples.values()].map((row) => {
      const set = sets[row.dataset];
      const tools = Object.fromEntries(Object.entries(row.tools).map(([t, s]) => [t, summarize(s, set)]));
      return derive({ dataset: row.dataset, phase: row.phase, files: set.files, bytes: set.bytes, tools }, ceiling?.mbPerSecond);
    });
    return { name: mediumName, root: s3 ? `${root}, repositories in ${s3.description}` : root, ceiling, rows };
  } finally {
    await s3?.close();
    await rm(base, { recursive: true, force: true });
    toRemove.delete(base);
  }
}

async function main() {
  const { resticVersion } = preflight();
  const p = plan(config.scale);
  log(`scale ${config.scale}, ${config.runs} run(s), media ${config.media}, tools ${config.tools}; peak RSS via ${rssMethod}`);
  const media = [];
  for (const m of config.media) media.push(await benchMedium(m, p));
  const result = {
    when: new Date().toISOString(),
    machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model, kernel: release(), node: process.version, restic: resticVersion },
    config: {
      ...config,
      plan: p,
      rssMethod,
      pageCache: 'warm: caches are not dropped (the machine is shared)',
      freedMemory: await pageReportingState(),
    },
    media,
  };
  await mkdir(dirname(resultsFile), { recursive: true });
  await writeFile(resultsFile, `${JSON.stringify(result, null, 2)}\n`);
  console.log(renderTable(result));
  console.log(`\nresults: ${resultsFile}`);
}

main().catch(async (err) => {
  console.error(`bench: ${err.message}`);
  await cleanup();
  process.exit(1);
});
