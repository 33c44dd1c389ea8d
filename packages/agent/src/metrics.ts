/**
 * The agent's Prometheus metrics (DESIGN §6): prefix `ferry_`, base units, `_total` on
 * counters, bounded labels only (node, namespace, op, result, backend) — never pod UIDs,
 * paths or snapshot ids. Each Agent owns its own Registry so tests can run several.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackupStats, RestoreStats } from '@ferry/mover';
import type { OperationName } from './job-spec.js';
import type { OperationResult } from './status-codes.js';

export interface AgentMetricsOptions {
  readonly nodeName: string;
  readonly version: string;
  /** Node's process metrics (CPU, memory, event loop lag...); default true. */
  readonly defaultMetrics?: boolean;
}

const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200];
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class AgentMetrics {
  readonly registry = new Registry();
  readonly volumeBytesRead: Counter<'namespace'>;
  readonly repositoryBytesAdded: Counter<'namespace'>;
  readonly repositoryBytesDeduplicated: Counter<'namespace'>;
  readonly volumeBytesWritten: Counter<'namespace'>;
  readonly files: Counter<'namespace' | 'op' | 'result'>;
  readonly operations: Counter<'namespace' | 'op' | 'result'>;
  readonly inProgress: Gauge<'op'>;
  readonly duration: Histogram<'op' | 'result'>;
  readonly lastSuccess: Gauge<'namespace' | 'op'>;
  readonly restoreStartWait: Histogram<never>;
  readonly storeRequestDuration: Histogram<'backend' | 'op' | 'result'>;
  readonly storeRetries: Counter<'backend' | 'op'>;
  readonly storeBytes: Counter<'backend' | 'direction'>;
  readonly connected: Gauge<never>;
  readonly connects: Counter<'result'>;
  readonly resultsUnacknowledged: Gauge<never>;

  constructor(options: AgentMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: options.nodeName });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'ferry_agent_build_info', help: 'Agent build: always 1, labelled with the versions', labelNames: ['version', 'nodejs'], registers }).set(
      { version: options.version, nodejs: process.versions.node },
      1,
    );
    this.volumeBytesRead = new Counter({ name: 'ferry_volume_bytes_read_total', help: 'Bytes of file content read from volumes by backups', labelNames: ['namespace'], registers });
    this.repositoryBytesAdded = new Counter({ name: 'ferry_repository_bytes_uploaded_total', help: 'Bytes backups added to repositories (after dedup, compression, encryption)', labelNames: ['namespace'], registers });
    this.repositoryBytesDeduplicated = new Counter({ name: 'ferry_repository_bytes_deduplicated_total', help: 'Bytes of backed-up content found already stored', labelNames: ['namespace'], registers });
    this.volumeBytesWritten = new Counter({ name: 'ferry_volume_bytes_restored_total', help: 'Bytes of file content restores wrote into volumes', labelNames: ['namespace'], registers });
    this.files = new Counter({ name: 'ferry_files_total', help: 'Files processed, by result (new, changed, unmodified, restored, error)', labelNames: ['namespace', 'op', 'result'], registers });
    this.operations = new Counter({ name: 'ferry_operations_total', help: 'Finished jobs (backup, restore, check, prune) by result', labelNames: ['namespace', 'op', 'result'], registers });
    this.inProgress = new Gauge({ name: 'ferry_operations_in_progress', help: 'Jobs running now (queued and waiting jobs excluded)', labelNames: ['op'], registers });
    this.duration = new Histogram({ name: 'ferry_operation_duration_seconds', help: 'Run time of finished jobs', labelNames: ['op', 'result'], buckets: DURATION_BUCKETS, registers });
    this.lastSuccess = new Gauge({ name: 'ferry_last_success_timestamp_seconds', help: 'Unix time of the last completed job', labelNames: ['namespace', 'op'], registers });
    this.restoreStartWait = new Histogram({ name: 'ferry_restore_start_wait_seconds', help: 'Time restores waited between assignment and restore-may-start (the pod reaching restore-wait)', buckets: DURATION_BUCKETS, registers });
    this.storeRequestDuration = new Histogram({ name: 'ferry_store_request_duration_seconds', help: 'Repository store requests (S3 or local), each attempt', labelNames: ['backend', 'op', 'result'], buckets: REQUEST_BUCKETS, registers });
    this.storeRetries = new Counter({ name: 'ferry_store_request_retries_total', help: 'Store requests retried after a retriable failure', labelNames: ['backend', 'op'], registers });
    this.storeBytes = new Counter({ name: 'ferry_store_bytes_total', help: 'Bytes sent to (upload) or received from (download) repository stores', labelNames: ['backend', 'direction'], registers });
    this.connected = new Gauge({ name: 'ferry_agent_coordinator_connected', help: '1 while a coordinator stream is open and welcomed', registers });
    this.connects = new Counter({ name: 'ferry_agent_coordinator_connects_total', help: 'Connection attempts to the coordinator by result', labelNames: ['result'], registers });
    this.resultsUnacknowledged = new Gauge({ name: 'ferry_agent_results_unacknowledged', help: 'Job results waiting for the coordinator to acknowledge them', registers });
  }

  backupFinished(namespace: string, stats: BackupStats): void {
    this.volumeBytesRead.inc({ namespace }, stats.bytesRead);
    this.repositoryBytesAdded.inc({ namespace }, stats.bytesAdded);
    this.repositoryBytesDeduplicated.inc({ namespace }, stats.bytesDeduplicated);
    this.files.inc({ namespace, op: 'backup', result: 'new' }, stats.filesNew);
    this.files.inc({ namespace, op: 'backup', result: 'changed' }, stats.filesChanged);
    this.files.inc({ namespace, op: 'backup', result: 'unmodified' }, stats.filesUnmodified);
  }

  restoreFinished(namespace: string, stats: RestoreStats): void {
    this.volumeBytesWritten.inc({ namespace }, stats.bytesRestored);
    this.files.inc({ namespace, op: 'restore', result: 'restored' }, stats.filesRestored);
  }

  fileErrors(namespace: string, op: OperationName, count: number): void {
    if (count > 0) this.files.inc({ namespace, op, result: 'error' }, count);
  }

  operationFinished(namespace: string, op: OperationName, result: OperationResult, seconds: number, wallClockMs: number): void {
    this.operations.inc({ namespace, op, result });
    this.duration.observe({ op, result }, seconds);
    if (result === 'completed' || result === 'partially_failed') this.lastSuccess.set({ namespace, op }, Math.floor(wallClockMs / 1000));
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
