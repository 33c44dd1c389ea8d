/** Test support (not product): a ControllerContext on a fake API server with a ManualClock and an AgentHub that is not listening. */
import { ManualClock } from './clock.js';
import type { ControllerContext } from './context.js';
import { AgentHub } from './hub.js';
import { KubeClusterState } from './cluster/kube-state.js';
import { silentLogger } from '@ferry/log';
import { CoordinatorMetrics } from './metrics.js';
import { defaultPurgeMovers, type PurgeMoverFactory } from './purge.js';
import { Repositories } from './repositories.js';
import type { KubeConfig } from '@kubernetes/client-node';

export function testContext(kubeConfig: KubeConfig, clock = new ManualClock(), purgeMovers: PurgeMoverFactory = defaultPurgeMovers): { ctx: ControllerContext; clock: ManualClock; enqueued: string[]; kube: KubeClusterState } {
  const cluster = new KubeClusterState(kubeConfig);
  const enqueued: string[] = [];
  const hub = new AgentHub({ clock, log: silentLogger, coordinatorId: 'test', handlers: { onResult: async () => undefined, onProgress: () => undefined, onConnect: () => undefined, onDisconnect: () => undefined } });
  const ctx: ControllerContext = {
    cluster,
    hub,
    clock,
    log: silentLogger,
    metrics: new CoordinatorMetrics({ defaultMetrics: false }),
    repositories: new Repositories({ cluster, namespace: 'ferry-system' }),
    purgeMovers,
    settings: { namespace: 'ferry-system', agentWaitMs: 60_000, agentLostMs: 60_000, progressIntervalMs: 2_000, maxAttempts: 2, locationValidationMs: 300_000, restoreWait: { image: 'ferry-agent:test', command: ['/usr/local/bin/ferry-restore-wait'] }, helperPods: { image: 'ferry-agent:test', requests: { cpu: '10m', memory: '32Mi' }, tolerations: [], provisioningTimeoutMs: 300_000 } },
    enqueue: (key) => void enqueued.push(key),
    startedAt: clock.now(),
  };
  return { ctx, clock, enqueued, kube: cluster };
}
