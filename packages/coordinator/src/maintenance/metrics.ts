/**
 * The repository health gauges are a view of BackupRepository status, set on every
 * reconcile: a restarted (or newly elected) coordinator exports the same values at once.
 */
import type { CoordinatorMetrics } from '../metrics.js';
import type { RepositoryObject } from './schedule.js';

/** repository name → the namespace label it was exported with (to remove it later). */
const exported = new WeakMap<CoordinatorMetrics, Map<string, string>>();

export function exportRepositoryMetrics(metrics: CoordinatorMetrics, repo: RepositoryObject): void {
  const labels = { repository: repo.metadata.name ?? '', namespace: repo.spec.namespace };
  const known = exported.get(metrics) ?? new Map<string, string>();
  exported.set(metrics, known);
  const previous = known.get(labels.repository);
  if (previous !== undefined && previous !== labels.namespace) forgetRepositoryMetrics(metrics, labels.repository);
  known.set(labels.repository, labels.namespace);
  const s = repo.status ?? {};
  setOrRemove(metrics.repositoryLastCheck, labels, s.lastCheck ? seconds(s.lastCheck.time) : undefined);
  setOrRemove(metrics.repositoryCheckSuccess, labels, s.lastCheck ? (s.lastCheck.result === 'Succeeded' ? 1 : 0) : undefined);
  setOrRemove(metrics.repositoryLastPrune, labels, s.lastPrune ? seconds(s.lastPrune.time) : undefined);
  setOrRemove(metrics.repositorySize, labels, s.sizeBytes);
  setOrRemove(metrics.repositorySnapshots, labels, s.snapshotCount);
}

/** The repository is gone: its series go too (a stale size would mislead a dashboard). */
export function forgetRepositoryMetrics(metrics: CoordinatorMetrics, name: string): void {
  const namespace = exported.get(metrics)?.get(name);
  if (namespace === undefined) return;
  exported.get(metrics)?.delete(name);
  const labels = { repository: name, namespace };
  for (const g of [metrics.repositoryLastCheck, metrics.repositoryCheckSuccess, metrics.repositoryLastPrune, metrics.repositorySize, metrics.repositorySnapshots]) g.remove(labels);
}

type RepoGauge = CoordinatorMetrics['repositorySize'];

function setOrRemove(gauge: RepoGauge, labels: { repository: string; namespace: string }, value: number | undefined): void {
  if (value === undefined || !Number.isFinite(value)) gauge.remove(labels);
  else gauge.set(labels, value);
}

function seconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}
