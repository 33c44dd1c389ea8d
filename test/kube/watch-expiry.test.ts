/**
 * A watch that expires is resumed, on the real kube-apiserver. The API server runs without
 * its watch cache (--watch-cache=false), so a watch reads etcd directly and one from a
 * compacted resourceVersion really gets 410 Gone. The coordinator reaches the server through
 * a TCP proxy; the test cuts it off (a network partition shorter than its renew deadline, so
 * it stays the leader), and while it is away creates a Backup, deletes another and compacts
 * etcd past everything the coordinator saw. Back online, the coordinator's watches reconnect
 * from their old resourceVersions (the audit log shows it), get 410, relist, and act on what
 * the relist shows: the new Backup completes, the deleted one is finalized and goes away, and
 * nothing done before the gap is done again (no write to the earlier Backup, no second
 * PodVolumeBackup created for a volume).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, ControlPlane } from './control-plane.js';
import { disposeOwnedCluster, fillVolume, startOwnedCluster, type E2eCluster } from '../e2e/cluster.fixture.js';
import { waitFor } from '../e2e/processes.fixture.js';
import { TcpProxy } from './tcp-proxy.js';

const NS = 'shop';
const COORDINATOR = 'system:serviceaccount:ferry-system:ferry-coordinator';
const TERMINAL = ['Completed', 'PartiallyFailed', 'Failed'];

let cluster: E2eCluster;
let proxy: TcpProxy | undefined;

beforeAll(async () => {
  cluster = await startOwnedCluster({
    name: 'watch-expiry', nodes: ['node-a'], namespaces: [NS], prefix: 'watch-expiry',
    apiServerArgs: ['--watch-cache=false'],
    coordinatorServer: async (url) => {
      proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(url).port) });
      return proxy.url;
    },
    // The partition lasts a few seconds; the Lease outlives it, so the leader keeps its watches.
    coordinatorArgs: ['--lease-duration', '60s', '--renew-deadline', '45s'],
  });
}, 180_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
  await proxy?.stop();
}, 60_000);

function controlPlane(): ControlPlane {
  const cp = cluster.controlPlane;
  if (!cp) throw new Error('this test needs the real API server');
  return cp;
}

async function backup(name: string): Promise<void> {
  await cluster.create('backups', { kind: 'Backup', metadata: { name }, spec: {} }, NS);
  const b = await cluster.waitPhase('backups', name, NS, TERMINAL, 90_000);
  expect(b.status?.phase, JSON.stringify(b.status)).toBe('Completed');
}

/** The coordinator's requests for `resource` since `since`, one entry each (a watch when it started, others when answered). */
async function coordinatorRequests(since: number, resource: string): Promise<AuditEvent[]> {
  const events = await controlPlane().auditEvents();
  return events.filter((e) => e.user === COORDINATOR && e.resource === resource && e.time >= since && e.stage === (e.verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete'));
}

function resourceVersionOf(uri: string): number {
  return Number(new URL(uri, 'https://x').searchParams.get('resourceVersion') ?? NaN);
}

describe('a watch that expires (410 Gone) on the real API server', () => {
  it('relists after the 410 and acts on every change made while the coordinator was cut off, once', async () => {
    await cluster.createStatefulSet(NS, 'db');
    const [pod] = await cluster.runningPods(NS, 1);
    for (const v of ['cache', 'data']) await fillVolume(cluster.volumeDir(pod!, v), `db-${v}`, 20);
    await backup('kept');
    await backup('doomed');
    const kept = await cluster.get('backups', 'kept', NS);
    const keptPvbs = await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=kept');

    const cutAt = Date.now();
    proxy!.cut();
    await cluster.create('backups', { kind: 'Backup', metadata: { name: 'during' }, spec: {} }, NS);
    await cluster.custom.deleteNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backups', namespace: NS, name: 'doomed' });
    const compacted = await controlPlane().compactEtcd();
    proxy!.restore();

    const during = await cluster.waitPhase('backups', 'during', NS, TERMINAL, 90_000);
    expect(during.status?.phase, JSON.stringify(during.status)).toBe('Completed');
    await waitFor(async () => (await cluster.list('backups', NS)).every((b) => b.metadata.name !== 'doomed'), 60_000, 'the Backup deleted during the gap to be finalized and gone');
    expect(await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=doomed')).toEqual([]);

    // The 410 path was taken: a watch of Backups from before the compaction, then a relist.
    const requests = await coordinatorRequests(cutAt, 'backups');
    const staleWatch = requests.find((e) => e.verb === 'watch' && resourceVersionOf(e.requestURI) < compacted);
    expect(staleWatch, requests.map((e) => `${e.verb} ${e.requestURI}`).join('\n')).toBeDefined();
    expect(requests.some((e) => e.verb === 'list' && e.time >= staleWatch!.time)).toBe(true);

    // Once each: two volumes, two PodVolumeBackups created for 'during', none tried twice; nothing rewritten before the gap.
    const pvbCreates = (await coordinatorRequests(cutAt, 'podvolumebackups')).filter((e) => e.verb === 'create');
    expect(pvbCreates.map((e) => e.code)).toEqual([201, 201]);
    expect((await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=during')).length).toBe(2);
    const keptWrites = (await coordinatorRequests(cutAt, 'backups')).filter((e) => e.name === 'kept' && ['patch', 'update', 'delete'].includes(e.verb));
    expect(keptWrites).toEqual([]);
    expect((await cluster.get('backups', 'kept', NS)).metadata).toMatchObject({ resourceVersion: (kept.metadata as { resourceVersion?: string }).resourceVersion });
    const keptAfter = await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=kept');
    expect(keptAfter.map((p) => (p.metadata as { resourceVersion?: string }).resourceVersion)).toEqual(keptPvbs.map((p) => (p.metadata as { resourceVersion?: string }).resourceVersion));
    expect(cluster.coordinator?.child.exitCode).toBeNull();
  }, 240_000);
});
