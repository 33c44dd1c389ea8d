/**
 * Two real coordinator processes on the real API server, each with a token of the shipped
 * ServiceAccount and the name of a pod of its own (--pod-name): both replicas are Ready
 * (/readyz 200, so a 2-replica Deployment is Available), exactly one pod carries
 * ferry.dev/leader=true — the leader's, as its metrics say — and the shipped Service's
 * selector picks that pod alone. After the leader is stopped (SIGTERM) the label moves to
 * the other replica's pod. The shipped RBAC must allow all of it (audit log: no 403).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { COORDINATOR_MAIN, coordinatorArgs, freePort, startNode, stopProc, waitFor, type Proc } from '../e2e/processes.fixture.js';
import { ControlPlane } from './control-plane.js';
import { coordinatorKubeConfigYaml, FERRY_NAMESPACE, installFerry } from './install.js';

const LEADER = 'ferry.dev/leader';

interface Replica {
  readonly pod: string;
  readonly healthPort: number;
  proc?: Proc;
}

let cp: ControlPlane;
let root: string;
let core: CoreV1Api;
const replicas: Replica[] = [];

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, timeout: 2_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function isLeader(r: Replica): Promise<boolean> {
  const m = await httpGet(r.healthPort, '/metrics').catch(() => ({ body: '' }));
  return /^ferry_coordinator_leader 1$/m.test(m.body);
}

/** Pods the shipped Service selects (there is no endpoints controller here: the selector is evaluated by a list). */
async function servicePods(): Promise<string[]> {
  const svc = await core.readNamespacedService({ namespace: FERRY_NAMESPACE, name: 'ferry-coordinator' });
  const labelSelector = Object.entries(svc.spec!.selector!).map(([k, v]) => `${k}=${v}`).join(',');
  return (await core.listNamespacedPod({ namespace: FERRY_NAMESPACE, labelSelector })).items.map((p) => p.metadata!.name!).sort();
}

/** ferry-system enforces the restricted Pod Security Standard, as the shipped Deployment's pods meet it. */
function restrictedSpec() {
  return {
    serviceAccountName: 'ferry-coordinator',
    securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [{ name: 'coordinator', image: 'ferry-coordinator:e2e', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
  };
}

async function start(r: Replica, kubeconfigFile: string): Promise<void> {
  const extra = ['--listen', `127.0.0.1:${r.healthPort}`, '--pod-name', r.pod];
  r.proc = startNode(COORDINATOR_MAIN, coordinatorArgs({ kubeconfigFile, namespace: FERRY_NAMESPACE, hubPort: await freePort(), extra }), join(root, `${r.pod}.log`));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-kube-leader-'));
  cp = await ControlPlane.start({ root, controllerManager: false });
  await installFerry(cp);
  core = cp.adminKubeConfig().makeApiClient(CoreV1Api);
  const kubeconfigFile = join(root, 'kubeconfig');
  await writeFile(kubeconfigFile, await coordinatorKubeConfigYaml(cp), { mode: 0o600 });
  for (const pod of ['ferry-coordinator-7d9f-a', 'ferry-coordinator-7d9f-b']) {
    // The pods a Deployment's ReplicaSet would create: the template's labels, no leader label.
    const labels = { 'app.kubernetes.io/name': 'ferry-coordinator', 'app.kubernetes.io/component': 'coordinator', 'app.kubernetes.io/part-of': 'ferry' };
    await core.createNamespacedPod({ namespace: FERRY_NAMESPACE, body: { metadata: { name: pod, labels }, spec: restrictedSpec() } });
    const r: Replica = { pod, healthPort: await freePort() };
    replicas.push(r);
    await start(r, kubeconfigFile);
  }
}, 180_000);

afterAll(async () => {
  for (const r of replicas) await stopProc(r.proc);
  await cp?.stop();
  await rm(root, { recursive: true, force: true });
}, 60_000);

describe('coordinator replicas on the real API server', () => {
  it('both replicas are Ready; the Service selects the leader\'s pod alone, and the label follows a handover', async () => {
    const leader = await waitFor(async () => {
      const leaders = [];
      for (const r of replicas) if (await isLeader(r)) leaders.push(r);
      const pods = await servicePods();
      return leaders.length === 1 && pods.length === 1 && pods[0] === leaders[0]!.pod && leaders[0]!;
    }, 90_000, 'one leader whose pod alone the Service selects');
    for (const r of replicas) {
      const ready = await waitFor(async () => {
        const res = await httpGet(r.healthPort, '/readyz').catch(() => undefined);
        return res?.status === 200 && res;
      }, 30_000, `${r.pod} /readyz 200`);
      expect(ready.body).toMatch(r === leader ? /^leader/ : /^standby/);
    }

    const standby = replicas.find((r) => r !== leader)!;
    await stopProc(leader.proc);
    await waitFor(async () => (await servicePods()).join() === standby.pod && (await isLeader(standby)), 60_000, `the Service to select ${standby.pod} after the handover`);
    const old = await core.readNamespacedPod({ namespace: FERRY_NAMESPACE, name: leader.pod });
    expect(old.metadata?.labels?.[LEADER]).toBeUndefined();
    expect(await cp.forbidden(`system:serviceaccount:${FERRY_NAMESPACE}:`)).toEqual([]);
  }, 200_000);
});
