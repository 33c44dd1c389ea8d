#!/usr/bin/env tsx
/**
 * The coordinator at scale on the real kube-apiserver (npm run bench:cluster): one Backup of
 * every pod, at each size in BENCH_CLUSTER_PODS (default 200,2000) on BENCH_CLUSTER_NODES
 * nodes (default 100), each size on a fresh control plane. Prints, per size, the time until
 * every PodVolumeBackup exists, is assigned and the Backup is Completed, the coordinator's
 * peak RSS and its API requests per volume; then how they grow from the smallest size to the
 * largest. Per-volume figures should stay flat (linear work): growth beyond the thresholds
 * below is flagged SUPER-LINEAR. Needs test/kube/.bin (test/kube/build.sh) and a build.
 */
import { writeFile } from 'node:fs/promises';
import { runClusterScale, type ClusterScaleResult } from './cluster-scale-run.js';

const sizes = (process.env['BENCH_CLUSTER_PODS'] ?? '200,2000').split(',').map(Number).filter((n) => n > 0);
const nodes = Number(process.env['BENCH_CLUSTER_NODES'] ?? 100);
// A noisy 2-core machine moves timings by tens of percent; requests are exact.
const LIMITS = { requestsPerVolume: 1.15, msPerVolume: 1.6, rssPerVolume: 1.6 };

const log = (line: string) => console.error(`bench:cluster: ${line}`);
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

function row(r: ClusterScaleResult): string {
  const perVolume = (r.volumeRequests / r.pods).toFixed(2);
  return `${String(r.pods).padStart(6)} pods  accepted ${(r.acceptedMs / 1000).toFixed(1)} s  assigned ${(r.assignedMs / 1000).toFixed(1)} s  completed ${(r.completedMs / 1000).toFixed(1)} s ` +
    `(${(r.completedMs / r.pods).toFixed(1)} ms/volume)  RSS ${mib(r.rssBefore)} → peak ${mib(r.rssPeak)} MiB  requests ${r.volumeRequests} (${perVolume}/volume)  reassigned ${r.reassigned}`;
}

function growth(small: ClusterScaleResult, large: ClusterScaleResult): string[] {
  const ratio = (f: (r: ClusterScaleResult) => number) => f(large) / f(small);
  const checks: [string, number, number][] = [
    ['API requests per volume', ratio((r) => r.volumeRequests / r.pods), LIMITS.requestsPerVolume],
    ['time to Completed per volume', ratio((r) => r.completedMs / r.pods), LIMITS.msPerVolume],
    ['time to all assigned per volume', ratio((r) => r.assignedMs / r.pods), LIMITS.msPerVolume],
    ['RSS growth per volume (peak - before)', ratio((r) => Math.max(1, r.rssPeak - r.rssBefore) / r.pods), LIMITS.rssPerVolume],
  ];
  return checks.map(([what, x, limit]) => `${what}: ×${x.toFixed(2)} from ${small.pods} to ${large.pods} pods${x > limit ? `  SUPER-LINEAR (over ×${limit})` : ''}`);
}

const results: ClusterScaleResult[] = [];
for (const pods of sizes) {
  const r = await runClusterScale({ pods, nodes, log });
  results.push(r);
  console.log(row(r));
  console.log(`        by request: ${Object.entries(r.requests).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
if (results.length > 1) for (const line of growth(results[0]!, results.at(-1)!)) console.log(line);
if (process.env['BENCH_RESULTS']) await writeFile(process.env['BENCH_RESULTS'], JSON.stringify({ nodes, results }, null, 2));
