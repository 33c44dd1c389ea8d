import { mkdtemp, open, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import { FakeApiServer } from './api-server.js';
import { until } from './client.fixture.js';
import { FakeKubelet } from './kubelet.js';
import { FakeScheduler } from './scheduler.js';
import { createReplicaSetPods, createStatefulSetPods } from './workloads.js';

let api: FakeApiServer;
let core: CoreV1Api;
let root: string;
let waitScript: string;
let scheduler: FakeScheduler;
const kubelets: FakeKubelet[] = [];

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  root = await mkdtemp(join(tmpdir(), 'fake-kubelet-'));
  // Stands in for restore-wait: proves it ran with every mount mapped to a real directory.
  waitScript = join(root, 'wait.mjs');
  await writeFile(waitScript, `import { writeFileSync, appendFileSync } from 'node:fs';
const map = JSON.parse(process.env.FERRY_MOUNT_MAP);
for (const [mountPath, dir] of Object.entries(map)) if (!mountPath.startsWith('/var/run')) appendFileSync(dir + '/restored.txt', mountPath + '\\n');
process.exit(Number(process.env.EXIT_CODE ?? 0));
`);
  for (const node of ['node-a', 'node-b']) {
    kubelets.push(await FakeKubelet.start({ nodeName: node, kubeConfig: api.kubeConfig(), podsDir: join(root, node, 'pods'), pvStorageDir: join(root, 'pv-storage') }));
  }
  scheduler = await FakeScheduler.start({ kubeConfig: api.kubeConfig() });
  await core.createNamespace({ body: { metadata: { name: 'apps' } } });
});
afterAll(async () => {
  await scheduler.stop();
  for (const k of kubelets) await k.stop();
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

function template(exitCode = 0): V1PodTemplateSpec {
  return {
    metadata: { labels: { app: 'db' } },
    spec: {
      initContainers: [{ name: 'restore-wait', image: 'ferry/restore-wait:test', command: [waitScript], env: [{ name: 'EXIT_CODE', value: String(exitCode) }], volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'scratch', mountPath: '/scratch' }] }],
      containers: [{ name: 'db', image: 'postgres:16', volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql' }] }],
      volumes: [{ name: 'scratch', emptyDir: {} }],
    },
  };
}

async function phaseOf(name: string, phase: string): Promise<V1Pod> {
  let pod: V1Pod | undefined;
  await until(async () => (pod = await core.readNamespacedPod({ namespace: 'apps', name })).status?.phase === phase, `${name} to be ${phase}`, 10_000);
  return pod!;
}

function kubeletOf(pod: V1Pod): FakeKubelet {
  return kubelets.find((k) => k.nodeName === pod.spec?.nodeName)!;
}

describe('fake kubelet and scheduler', () => {
  it('schedules, lays out volumes like the kubelet, runs the init container, and reports Running', async () => {
    const { pods } = await createStatefulSetPods(api.kubeConfig(), { namespace: 'apps', name: 'db', replicas: 2, template: template(), volumeClaimTemplates: [{ name: 'data' }] });
    const running = await Promise.all(pods.map((p) => phaseOf(p.metadata!.name!, 'Running')));
    expect(new Set(running.map((p) => p.spec?.nodeName))).toEqual(new Set(['node-a', 'node-b']));
    const pod = running[0]!;
    expect(pod.status?.podIP).toMatch(/^10\.244\./);
    expect(pod.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(pod.status?.containerStatuses?.[0]?.ready).toBe(true);
    expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: 'apps', name: 'data-db-0' });
    const podDir = kubeletOf(pod).podDir(pod.metadata!.uid!);
    const dataDir = join(podDir, 'volumes', 'kubernetes.io~csi', pvc.spec!.volumeName!, 'mount');
    const scratchDir = join(podDir, 'volumes', 'kubernetes.io~empty-dir', 'scratch');
    expect(await readFile(join(dataDir, 'restored.txt'), 'utf8')).toBe('/data\n');
    expect(await readFile(join(scratchDir, 'restored.txt'), 'utf8')).toBe('/scratch\n');
    const tokenVol = pod.spec!.volumes!.find((v) => v.projected)!.name;
    expect((await stat(join(podDir, 'volumes', 'kubernetes.io~projected', tokenVol))).isDirectory()).toBe(true);
  });

  it('lays out a claim a container lists under volumeDevices as a block volume: a stand-in device file of the PV size, kept across pods', async () => {
    const blockTemplate: V1PodTemplateSpec = {
      metadata: { labels: { app: 'raw' } },
      spec: { containers: [{ name: 'raw', image: 'busybox', volumeDevices: [{ name: 'disk', devicePath: '/dev/xvda' }] }] },
    };
    const { pods } = await createStatefulSetPods(api.kubeConfig(), { namespace: 'apps', name: 'raw', replicas: 1, template: blockTemplate, volumeClaimTemplates: [{ name: 'disk', storage: '8Mi' }] });
    const pod = await phaseOf(pods[0]!.metadata!.name!, 'Running');
    const pvName = (await core.readNamespacedPersistentVolumeClaim({ namespace: 'apps', name: 'disk-raw-0' })).spec!.volumeName!;
    const link = join(kubeletOf(pod).podDir(pod.metadata!.uid!), 'volumeDevices', 'kubernetes.io~csi', pvName);
    const device = await realpath(link);
    expect(device).toContain(join('plugins', 'kubernetes.io', 'csi', 'volumeDevices', 'publish', pvName));
    expect((await stat(device)).size).toBe(8 * 2 ** 20);
    const fh = await open(device, 'r+');
    await fh.write('written by the first pod', 0);
    await fh.close();
    await core.deleteNamespacedPod({ namespace: 'apps', name: 'raw-0' });
    await until(() => core.readNamespacedPod({ namespace: 'apps', name: 'raw-0' }).then(() => false, () => true), 'raw-0 to be gone');
    await createStatefulSetPods(api.kubeConfig(), { namespace: 'apps', name: 'raw', replicas: 1, template: blockTemplate, volumeClaimTemplates: [{ name: 'disk', storage: '8Mi' }] });
    const again = await phaseOf('raw-0', 'Running');
    const relink = join(kubeletOf(again).podDir(again.metadata!.uid!), 'volumeDevices', 'kubernetes.io~csi', pvName);
    const bytes = await readFile(await realpath(relink));
    expect(bytes.length).toBe(8 * 2 ** 20);
    expect(bytes.subarray(0, 24).toString()).toBe('written by the first pod');
  });

  it('finishes graceful deletion, keeps PV data across pods, and loses emptyDir data', async () => {
    const before = await core.readNamespacedPod({ namespace: 'apps', name: 'db-0' });
    const oldDir = kubeletOf(before).podDir(before.metadata!.uid!);
    await core.deleteNamespacedPod({ namespace: 'apps', name: 'db-0' });
    await until(() => core.readNamespacedPod({ namespace: 'apps', name: 'db-0' }).then(() => false, () => true), 'db-0 to be gone');
    await expect(stat(oldDir)).rejects.toThrow();
    await createStatefulSetPods(api.kubeConfig(), { namespace: 'apps', name: 'db', replicas: 1, template: template(), volumeClaimTemplates: [{ name: 'data' }] });
    const again = await phaseOf('db-0', 'Running');
    const dirs = kubeletOf(again).volumeDirs(again.metadata!.uid!)!;
    expect(await readFile(join(dirs.get('data')!, 'restored.txt'), 'utf8')).toBe('/data\n/data\n');
    expect(await readFile(join(dirs.get('scratch')!, 'restored.txt'), 'utf8')).toBe('/scratch\n');
  });

  it('marks the pod Failed when an init container exits non-zero; owner GC removes ReplicaSet pods', async () => {
    const { replicaSet, pods } = await createReplicaSetPods(api.kubeConfig(), { namespace: 'apps', name: 'broken', replicas: 1, template: template(3) });
    const failed = await phaseOf(pods[0]!.metadata!.name!, 'Failed');
    expect(failed.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(failed.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', uid: replicaSet.metadata!.uid, controller: true });
    await api.kubeConfig().makeApiClient(AppsV1Api).deleteNamespacedReplicaSet({ namespace: 'apps', name: 'broken' });
    await until(() => core.listNamespacedPod({ namespace: 'apps', labelSelector: 'app=db' }).then((l) => !l.items.some((p) => p.metadata?.name?.startsWith('broken-'))), 'GC of the ReplicaSet pods');
  });
});
