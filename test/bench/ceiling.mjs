// The machine's single-pass ceiling for a backup of data set (a): every core reads,
// chunks, hashes and encrypts its share of the files and throws the result away.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const WORKER = new URL('./ceiling-worker.mjs', import.meta.url);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** The engine's Chunker when built (index or its own module), else the worker's gear loop. */
async function chunkerModule() {
  try {
    const mod = await import('@ferry/repository');
    if (mod.Chunker && mod.gearTable) return '@ferry/repository';
  } catch {
    // not built yet
  }
  const direct = `${root}packages/repository/dist/chunker.js`;
  return existsSync(direct) ? direct : undefined;
}

export async function measureCeiling(files) {
  const workers = Math.max(1, Math.min(availableParallelism(), files.length));
  const shares = Array.from({ length: workers }, () => []);
  files.forEach((f, i) => shares[i % workers].push(f));
  const module = await chunkerModule();
  const started = performance.now();
  const results = await Promise.all(
    shares.map(
      (share) =>
        new Promise((resolve, reject) => {
          const w = new Worker(WORKER, { workerData: { files: share, chunkerModule: module } });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const bytes = results.reduce((a, r) => a + r.bytes, 0);
  return { seconds, bytes, workers, chunker: results[0]?.chunker ?? 'none' };
}
