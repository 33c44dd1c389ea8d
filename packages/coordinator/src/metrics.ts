/**
 * The coordinator's Prometheus metrics (prefix ferry_coordinator_, base units, bounded
 * labels: kind, phase, result; never names, UIDs or snapshot ids).
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

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.operations = new Gauge({ name: 'ferry_coordinator_operations', help: 'Ferry operations by kind and current phase.', labelNames: ['kind', 'phase'], registers });
    this.operationsFinished = new Counter({ name: 'ferry_coordinator_operations_finished_total', help: 'Operations that reached a terminal phase, by kind and result.', labelNames: ['kind', 'result'], registers });
    this.queueDepth = new Gauge({ name: 'ferry_coordinator_queue_depth', help: 'Objects waiting to be reconciled.', registers });
    this.agentsConnected = new Gauge({ name: 'ferry_coordinator_agents_connected', help: 'Node agents with an open AgentHub stream.', registers });
    this.webhookDuration = new Histogram({
      name: 'ferry_coordinator_webhook_duration_seconds',
      help: 'Time to answer an admission review, by result (patched, unchanged, error).',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.reconcileErrors = new Counter({ name: 'ferry_coordinator_reconcile_errors_total', help: 'Reconciles that failed and were retried, by kind.', labelNames: ['kind'], registers });
    this.leader = new Gauge({ name: 'ferry_coordinator_leader', help: '1 while this replica holds the leader Lease.', registers });
    this.resultsStored = new Counter({ name: 'ferry_coordinator_job_results_total', help: 'Job results received from agents and stored (re-deliveries included), by kind.', labelNames: ['kind'], registers });
    new Gauge({ name: 'ferry_coordinator_build_info', help: 'Build information.', labelNames: ['version', 'nodejs'], registers }).set({ version: COORDINATOR_VERSION, nodejs: process.version }, 1);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
