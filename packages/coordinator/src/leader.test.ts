import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ControlPlane } from '../../../test/kube/control-plane.js';
import { ManualClock } from './clock.js';
import { KubeClusterState } from './cluster/kube-state.js';
import { LeaderElector } from './leader.js';
import { silentLogger } from '@ferry/log';

// On the real kube-apiserver: a Lease's acquireTime/renewTime are MicroTime (six fractional
// digits), which a plain Date does not serialize to; the fake server accepted it, the real one refused.
let cp: ControlPlane;
let root: string;
let kc: KubeConfig;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-leader-'));
  cp = await ControlPlane.start({ root, controllerManager: false });
  kc = cp.adminKubeConfig();
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'ferry-system' } } });
}, 120_000);

afterAll(async () => {
  await cp?.stop();
  await rm(root, { recursive: true, force: true });
});

function elector(identity: string, clock: ManualClock, events: string[]): LeaderElector {
  return new LeaderElector({
    kube: new KubeClusterState(kc), clock, log: silentLogger, namespace: 'ferry-system', name: 'lease-test', identity,
    leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000,
    onStartedLeading: () => events.push(`${identity} leads`), onStoppedLeading: () => events.push(`${identity} stops`),
  });
}

describe('leader election on a Lease', () => {
  it('one candidate wins; the other takes over only after the lease expires without renewal', async () => {
    const clock = new ManualClock();
    const events: string[] = [];
    const a = elector('a', clock, events);
    const b = elector('b', clock, events);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(10_000);
    expect(await a.tryAcquireOrRenew()).toBe(true); // renewed at t=10 s
    clock.advance(14_000);
    expect(await b.tryAcquireOrRenew()).toBe(false); // 14 s since renewal < 15 s
    clock.advance(2_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(await a.tryAcquireOrRenew()).toBe(false);
    const lease = await new KubeClusterState(kc).coordination.readNamespacedLease({ namespace: 'ferry-system', name: 'lease-test' });
    expect(lease.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, leaseDurationSeconds: 15 });
  });

  it('a running elector reports leadership and releases the lease on stop so a standby takes over at once', async () => {
    const clock = new ManualClock();
    const events: string[] = [];
    const kube = new KubeClusterState(kc);
    await kube.coordination.deleteNamespacedLease({ namespace: 'ferry-system', name: 'lease-test' });
    const a = elector('a', clock, events);
    a.start();
    for (let i = 0; i < 100 && !a.isLeader; i++) await new Promise((r) => setTimeout(r, 20));
    expect(a.isLeader).toBe(true);
    await a.stop();
    expect(events).toEqual(['a leads', 'a stops']);
    expect(await elector('b', clock, []).tryAcquireOrRenew()).toBe(true);
  });
});
