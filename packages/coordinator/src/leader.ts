/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: take the Lease
 * when it is free or its holder stopped renewing for leaseDuration, renew every
 * retryPeriod, and give up leadership when a renewal has not succeeded within
 * renewDeadline. Every write carries the resourceVersion read, so two candidates never
 * both win. Timing runs on the injected Clock.
 */
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Clock } from './clock.js';
import { httpStatusOf, isNotFound, messageOf } from './errors.js';
import type { KubeClusterState } from './cluster/kube-state.js';
import type { Logger } from '@ferry/log';

export interface LeaderElectionOptions {
  readonly kube: KubeClusterState;
  readonly clock: Clock;
  readonly log: Logger;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
}

export class LeaderElector {
  private leading = false;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  private lastRenew = 0;

  constructor(private readonly o: LeaderElectionOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.leading) {
      await this.release().catch(() => undefined);
      this.setLeading(false);
    }
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const ok = await this.tryAcquireOrRenew().catch((err: unknown) => {
        this.o.log.warn('lease update failed', { lease: this.o.name, error: messageOf(err), status: httpStatusOf(err) });
        return false;
      });
      const now = this.o.clock.now();
      if (ok) this.lastRenew = now;
      if (ok && !this.leading) this.setLeading(true);
      if (!ok && this.leading && now - this.lastRenew >= this.o.renewDeadlineMs) this.setLeading(false);
      await this.o.clock.sleep(this.o.retryPeriodMs, this.abort.signal);
    }
  }

  private setLeading(value: boolean): void {
    if (this.leading === value) return;
    this.leading = value;
    this.o.log.info(value ? 'became leader' : 'lost leadership', { lease: this.o.name, identity: this.o.identity });
    if (value) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  /** One round: true when we hold the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, name, identity } = this.o;
    const now = new Date(this.o.clock.now());
    let lease: V1Lease;
    try {
      lease = await kube.coordination.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await kube.coordination.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(now, now, 0) } });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const duration = (spec.leaseDurationSeconds ?? 0) * 1000;
    const expired = !holder || renewed + duration <= now.getTime();
    if (holder !== identity && !expired) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    const acquire = holder === identity && spec.acquireTime ? new Date(spec.acquireTime) : now;
    await kube.coordination.replaceNamespacedLease({ namespace, name, body: { metadata: { ...lease.metadata, name, namespace }, spec: this.spec(acquire, now, transitions) } });
    return true;
  }

  private spec(acquireTime: Date, renewTime: Date, leaseTransitions: number): NonNullable<V1Lease['spec']> {
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      acquireTime: new V1MicroTime(acquireTime.getTime()),
      renewTime: new V1MicroTime(renewTime.getTime()),
      leaseTransitions,
    };
  }

  private async release(): Promise<void> {
    const { kube, namespace, name } = this.o;
    const lease = await kube.coordination.readNamespacedLease({ namespace, name });
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    await kube.coordination.replaceNamespacedLease({ namespace, name, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(0) } } });
  }
}
