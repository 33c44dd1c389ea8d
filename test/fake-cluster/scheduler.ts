/**
 * FAKE scheduler (test support, never shipped): binds pods that have no spec.nodeName to a
 * Ready node through the pods/binding subresource, honouring spec.nodeSelector and spreading
 * pods across nodes. No resources, affinity, taints or PV node affinity are considered.
 */
import { CoreV1Api, ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';

export interface FakeSchedulerOptions {
  kubeConfig: KubeConfig;
  /** Only pods with this schedulerName are bound. Default: default-scheduler. */
  schedulerName?: string;
}

function ready(n: V1Node): boolean {
  return !n.spec?.unschedulable && (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function fits(pod: V1Pod, n: V1Node): boolean {
  const labels = n.metadata?.labels ?? {};
  return Object.entries(pod.spec?.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
}

export class FakeScheduler {
  private readonly core: CoreV1Api;
  private readonly informer: ListWatch<V1Pod>;
  private readonly placed = new Map<string, number>();
  private readonly retries = new Set<NodeJS.Timeout>();
  private stopped = false;

  private constructor(private readonly o: FakeSchedulerOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    const selector = 'spec.nodeName=';
    const list = () => this.core.listPodForAllNamespaces({ fieldSelector: selector });
    this.informer = new ListWatch<V1Pod>('/api/v1/pods', new Watch(o.kubeConfig), list, false, undefined, selector);
    this.informer.on('add', (p) => void this.schedule(p));
  }

  static async start(o: FakeSchedulerOptions): Promise<FakeScheduler> {
    const s = new FakeScheduler(o);
    await s.informer.start();
    return s;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.retries) clearTimeout(t);
    await this.informer.stop();
  }

  private async schedule(pod: V1Pod): Promise<void> {
    if (this.stopped || pod.spec?.nodeName || pod.metadata?.deletionTimestamp) return;
    if ((pod.spec?.schedulerName ?? 'default-scheduler') !== (this.o.schedulerName ?? 'default-scheduler')) return;
    const nodes = (await this.core.listNode()).items.filter((n) => ready(n) && fits(pod, n));
    const node = nodes.sort((a, b) => (this.placed.get(a.metadata!.name!) ?? 0) - (this.placed.get(b.metadata!.name!) ?? 0))[0];
    if (!node) return this.retry(pod);
    const name = node.metadata!.name!;
    const body = { metadata: { name: pod.metadata!.name! }, target: { apiVersion: 'v1', kind: 'Node', name } };
    await this.core.createNamespacedPodBinding({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body }).then(
      () => this.placed.set(name, (this.placed.get(name) ?? 0) + 1),
      (e: { code?: number }) => (e.code === 404 || e.code === 409 ? undefined : this.retry(pod)),
    );
  }

  private retry(pod: V1Pod): void {
    const t = setTimeout(() => {
      this.retries.delete(t);
      const live = this.informer.get(pod.metadata!.name!, pod.metadata!.namespace);
      if (live) void this.schedule(live);
    }, 100);
    this.retries.add(t);
  }
}
