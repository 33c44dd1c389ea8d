/**
 * The coordinator's Prometheus metrics (prefix ferry_coordinator_, base units, bounded
 * labels: kind, phase, result; never names, UIDs or snapshot ids). Label values agree
 * with the agent's: `kind` is an object kind in its own casing (PodVolumeBackup), `result`
 * is lower snake case (completed, partially_failed), `nodejs` has no leading "v".
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const COORDINATOR_VERSION = '0.1.0';

export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly operations: Gauge<'kind' | 'phase'>;
  readonly operationsFinished: Counter<'kind' | 'result'>;
  readonly queueDepth: Gauge;
  readonly agentsConnected: Gauge;
  readonly webhookDuration: Histogram<'result'>;
  readonly reconcileErrors: Counter<'kind'>;
  readonly leader: Gauge;
  readonly resultsStored: Counter<'kind'>;
  /** Repository health (maintenance/): labels repository and namespace only. */
  readonly repositoryLastCheck: Gauge<'repository' | 'namespace'>;
  readonly repositoryCheckSuccess: Gauge<'repository' | 'namespace'>;
  readonly repositoryLastPrune: Gauge<'repository' | 'namespace'>;
  readonly repositorySize: Gauge<'repository' | 'namespace'>;
  readonly repositorySnapshots: Gauge<'repository' | 'namespace'>;
  readonly maintenanceRuns: Counter<'op' | 'result'>;
  /** From the Backup objects at each scrape (backup-success.ts): survives agent restarts. */
  readonly backupLastSuccess: Gauge<'namespace' | 'schedule'>;
  /** The public API: method is one of the proto's ~30 RPC names, code a gRPC status name. */
  readonly apiRequests: Counter<'method' | 'code'>;
  readonly apiRequestDuration: Histogram<'method'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.operations = new Gauge({ name: 'ferry_coordinator_operations', help: 'Ferry operations by kind and current phase.', labelNames: ['kind', 'phase'], registers });
    this.operationsFinished = new Counter({ name: 'ferry_coordinator_operations_finished_total', help: 'Operations that reached a terminal phase, by kind and result.', labelNames: ['kind', 'result'], registers });
    this.queueDepth = new Gauge({ name: 'ferry_coordinator_queue_depth', help: 'Objects waiting to be reconciled.', registers });
    this.agentsConnected = new Gauge({ name: 'ferry_coordinator_agents_connected', help: 'Node agents with an open AgentHub stream.', registers });
    this.webhookDuration = new Histogram({
      name: 'ferry_coordinator_webhook_duration_seconds',
      help: 'Time to answer an admission review, by result (pods: patched, unchanged, error; Restores: stamped, denied, unchanged).',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.apiRequests = new Counter({ name: 'ferry_coordinator_api_requests_total', help: 'Public gRPC API calls by method and gRPC status code (OK, PERMISSION_DENIED, ...).', labelNames: ['method', 'code'], registers });
    this.apiRequestDuration = new Histogram({
      name: 'ferry_coordinator_api_request_duration_seconds',
      help: 'Time to answer a public API call (for Watch streams: how long the stream was open), by method.',
      labelNames: ['method'],
      buckets: [0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 600, 3600],
      registers,
    });
    this.reconcileErrors = new Counter({ name: 'ferry_coordinator_reconcile_errors_total', help: 'Reconciles that failed and were retried, by kind.', labelNames: ['kind'], registers });
    this.leader = new Gauge({ name: 'ferry_coordinator_leader', help: '1 while this replica holds the leader Lease.', registers });
    this.resultsStored = new Counter({ name: 'ferry_coordinator_job_results_total', help: 'Job results received from agents and stored (re-deliveries included), by kind.', labelNames: ['kind'], registers });
    const repo = ['repository', 'namespace'] as const;
    this.repositoryLastCheck = new Gauge({ name: 'ferry_repository_last_check_timestamp_seconds', help: 'Unix time the last repository check finished (any result).', labelNames: repo, registers });
    this.repositoryCheckSuccess = new Gauge({ name: 'ferry_repository_check_success', help: '1 when the last repository check found no problem, 0 when it found damage or could not run.', labelNames: repo, registers });
    this.repositoryLastPrune = new Gauge({ name: 'ferry_repository_last_prune_timestamp_seconds', help: 'Unix time the last prune finished (any result).', labelNames: repo, registers });
    this.repositorySize = new Gauge({ name: 'ferry_repository_size_bytes', help: 'Bytes the repository occupies at its location, measured after each check and prune.', labelNames: repo, registers });
    this.repositorySnapshots = new Gauge({ name: 'ferry_repository_snapshots', help: 'Snapshots in the repository, counted after each check and prune.', labelNames: repo, registers });
    this.maintenanceRuns = new Counter({ name: 'ferry_repository_maintenance_runs_total', help: 'Finished repository checks and prunes, by operation and result (succeeded, failed).', labelNames: ['op', 'result'], registers });
    this.backupLastSuccess = new Gauge({ name: 'ferry_backup_last_success_timestamp_seconds', help: 'Unix time the newest Completed Backup of a namespace finished, by schedule (empty: not from a schedule); from the Backup objects.', labelNames: ['namespace', 'schedule'], registers });
    // Same format as the agent's (20.19.0, no "v"), so one query matches both daemons.
    new Gauge({ name: 'ferry_coordinator_build_info', help: 'Build information.', labelNames: ['version', 'nodejs'], registers }).set({ version: COORDINATOR_VERSION, nodejs: process.versions.node }, 1);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
