/**
 * The coordinator's watches ask for bookmarks, on the real kube-apiserver (watch cache on, as
 * in a cluster). A quiet kind's watch then resumes from a recent resourceVersion: here the
 * Backups watch ends every few seconds (a short timeoutSeconds) while only ConfigMaps change,
 * and its reconnects carry a resourceVersion newer than the last Backup's, which only a
 * bookmark can have told it. Without bookmarks every reconnect would repeat the last Backup's
 * version and, once etcd compacts past it, relist every Backup.
 *
 * etcd reports its progress to the watch cache every second here (10 minutes by default),
 * so the bookmarks carry fresh versions within the test's few seconds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { KubeWatch } from '../../packages/coordinator/src/cluster/kube-watch.js';
import { waitFor } from '../e2e/processes.fixture.js';
import { ControlPlane } from './control-plane.js';
import { FERRY_NAMESPACE, installFerry } from './install.js';

const NS = 'quiet';
let cp: ControlPlane;
let root: string;
let watch: KubeWatch | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-kube-bookmarks-'));
  cp = await ControlPlane.start({ root, controllerManager: false, etcdArgs: ['--experimental-watch-progress-notify-interval', '1s'] });
  await installFerry(cp);
}, 180_000);

afterAll(async () => {
  await watch?.stop();
  await cp?.stop();
  await rm(root, { recursive: true, force: true });
}, 60_000);

describe('watch bookmarks on the real API server', () => {
  it('a quiet watch reconnects from a bookmark\'s resourceVersion, newer than any Backup\'s', async () => {
    const kc = cp.adminKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await custom.createNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backups', namespace: NS, body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'only' }, spec: {} } });

    const seen: string[] = [];
    watch = new KubeWatch({ core, custom, kubeConfig: kc, options: { systemNamespace: FERRY_NAMESPACE } }, (e) => void seen.push(`${e.kind} ${e.type} ${e.object.metadata?.name}`), { watchTimeoutSeconds: () => 3 });
    await watch.start();
    expect(seen).toContain('Backup add only');

    // The first watch starts from the list's version; without a bookmark every later one would too.
    const versionOf = (uri: string) => Number(new URL(uri, 'https://x').searchParams.get('resourceVersion'));
    const backupWatches = async () => (await cp.auditEvents()).filter((e) => e.verb === 'watch' && e.resource === 'backups' && e.stage === 'ResponseStarted');
    const listed = versionOf((await waitFor(async () => (await backupWatches())[0], 10_000, 'the first Backups watch')).requestURI);
    let n = 0;
    const reconnect = await waitFor(async () => {
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: `tick-${n++}` } } });
      return (await backupWatches()).find((e) => versionOf(e.requestURI) > listed);
    }, 60_000, `a Backups watch from a resourceVersion newer than the list's ${listed}`);
    expect(reconnect.requestURI).toMatch(/allowWatchBookmarks=true/);
    expect((await backupWatches()).length).toBeGreaterThan(1);
    expect(seen.filter((s) => s.startsWith('Backup'))).toEqual(['Backup add only']);
  }, 120_000);
});
