import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, ListWatch, makeInformer, Watch } from '@kubernetes/client-node';
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { FakeApiServer } from './api-server.js';

let api: FakeApiServer;
let core: CoreV1Api;

beforeAll(async () => {
  api = await FakeApiServer.start({ bookmarkIntervalMs: 100 });
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'w' } } });
});
afterAll(() => api.stop());

interface Seen {
  type: string;
  object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function startWatch(path: string, query: Record<string, string | boolean>): { seen: Seen[]; done: Promise<unknown>; stop: () => void } {
  const seen: Seen[] = [];
  let stop = () => {};
  const done = new Promise((resolve) => {
    void new Watch(api.kubeConfig())
      .watch(path, query, (type, object) => seen.push({ type, object }), resolve)
      .then((c) => (stop = () => c.abort()));
  });
  return { seen, done, stop: () => stop() };
}

describe('fake API server: watches through client-node', () => {
  it('streams ADDED/MODIFIED/DELETED after a resourceVersion, with periodic BOOKMARKs', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'w' });
    const w = startWatch('/api/v1/namespaces/w/configmaps', { resourceVersion: list.metadata!.resourceVersion!, allowWatchBookmarks: true });
    const cm = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'a' } } });
    await core.replaceNamespacedConfigMap({ namespace: 'w', name: 'a', body: { ...cm, data: { k: 'v' } } });
    await core.deleteNamespacedConfigMap({ namespace: 'w', name: 'a' });
    await until(() => w.seen.some((e) => e.type === 'DELETED') && w.seen.some((e) => e.type === 'BOOKMARK'), 'events and a bookmark');
    expect(w.seen.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED a', 'MODIFIED a', 'DELETED a']);
    const bm = w.seen.find((e) => e.type === 'BOOKMARK')!;
    expect(Number(bm.object.metadata?.resourceVersion)).toBeGreaterThan(Number(list.metadata!.resourceVersion));
    w.stop();
  });

  it('sends an ERROR event with a 410 Expired Status for a resourceVersion outside the window', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'w' });
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'after-list' } } });
    api.compactWatchHistory();
    const w = startWatch('/api/v1/namespaces/w/configmaps', { resourceVersion: list.metadata!.resourceVersion! });
    await w.done;
    expect(w.seen).toHaveLength(1);
    expect(w.seen[0]).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  });

  it('turns label-selector transitions into ADDED and DELETED, and filters by field selector', async () => {
    const list = await core.listNamespacedPod({ namespace: 'w' });
    const rv = list.metadata!.resourceVersion!;
    const byLabel = startWatch('/api/v1/namespaces/w/pods', { resourceVersion: rv, labelSelector: 'app in (db),tier!=cache' });
    const byField = startWatch('/api/v1/pods', { resourceVersion: rv, fieldSelector: 'spec.nodeName=node-a' });
    const p = await core.createNamespacedPod({ namespace: 'w', body: { metadata: { name: 'p', labels: { app: 'web' } }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x:1' }] } } });
    const p2 = await core.replaceNamespacedPod({ namespace: 'w', name: 'p', body: { ...p, metadata: { ...p.metadata, labels: { app: 'db' } } } });
    await core.replaceNamespacedPod({ namespace: 'w', name: 'p', body: { ...p2, metadata: { ...p2.metadata, labels: { app: 'db', tier: 'cache' } } } });
    await core.createNamespacedPod({ namespace: 'w', body: { metadata: { name: 'q' }, spec: { nodeName: 'node-b', containers: [{ name: 'c', image: 'x:1' }] } } });
    await until(() => byLabel.seen.length >= 2 && byField.seen.length >= 3, 'selector events');
    expect(byLabel.seen.map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
    expect(byField.seen.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED p', 'MODIFIED p', 'MODIFIED p']);
    byLabel.stop();
    byField.stop();
  });

  it('lists with label and field selectors, and answers 400 for unsupported fields', async () => {
    const labelled = await core.listNamespacedPod({ namespace: 'w', labelSelector: 'app=db,tier' });
    expect(labelled.items.map((p) => p.metadata?.name)).toEqual(['p']);
    const notExists = await core.listNamespacedPod({ namespace: 'w', labelSelector: '!app' });
    expect(notExists.items.map((p) => p.metadata?.name)).toEqual(['q']);
    const notIn = await core.listNamespacedPod({ namespace: 'w', labelSelector: 'app notin (db)' });
    expect(notIn.items.map((p) => p.metadata?.name)).toEqual(['q']);
    const onNode = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName==node-b,metadata.namespace=w' });
    expect(onNode.items.map((p) => p.metadata?.name)).toEqual(['q']);
    const phase = await core.listNamespacedPod({ namespace: 'w', fieldSelector: 'status.phase!=Pending' });
    expect(phase.items).toEqual([]);
    await expect(core.listNamespacedPod({ namespace: 'w', fieldSelector: 'spec.hostname=x' })).rejects.toMatchObject({ code: 400 });
  });

  it('keeps a makeInformer cache in sync, and relists after 410 when the watch window is compacted', async () => {
    await core.createNamespace({ body: { metadata: { name: 'inf' } } });
    const path = '/api/v1/namespaces/inf/configmaps';
    const informer = makeInformer<V1ConfigMap>(api.kubeConfig(), path, () => core.listNamespacedConfigMap({ namespace: 'inf' }));
    const adds: string[] = [];
    const deletes: string[] = [];
    informer.on('add', (o) => adds.push(o.metadata!.name!));
    informer.on('delete', (o) => deletes.push(o.metadata!.name!));
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'before' } } });
    await informer.start();
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'live' } } });
    await until(() => adds.includes('live'), 'the live add');
    // While the informer is stopped, changes happen and the window is compacted, so the
    // DELETED event for 'before' is gone: only a relist after 410 can report the delete.
    await informer.stop();
    await core.deleteNamespacedConfigMap({ namespace: 'inf', name: 'before' });
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'x1' } } });
    api.compactWatchHistory();
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'x2' } } });
    await informer.start();
    await until(() => deletes.includes('before') && adds.includes('x1') && adds.includes('x2'), 'the relist after 410');
    expect(informer.list().map((o) => o.metadata!.name).sort()).toEqual(['live', 'x1', 'x2']);
    await informer.stop();
  });

  it('supports a ListWatch with a field selector (what a kubelet uses)', async () => {
    const lw = new ListWatch<V1Pod>('/api/v1/pods', new Watch(api.kubeConfig()), () => core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-z' }), false, undefined, 'spec.nodeName=node-z');
    await lw.start();
    await core.createNamespacedPod({ namespace: 'w', body: { metadata: { name: 'z' }, spec: { nodeName: 'node-z', containers: [{ name: 'c', image: 'x:1' }] } } });
    await core.createNamespacedPod({ namespace: 'w', body: { metadata: { name: 'y' }, spec: { nodeName: 'node-y', containers: [{ name: 'c', image: 'x:1' }] } } });
    await until(() => lw.list().length === 1, 'the node-z pod');
    await new Promise((r) => setTimeout(r, 100));
    expect(lw.list().map((p) => p.metadata?.name)).toEqual(['z']);
    await lw.stop();
  });
});
