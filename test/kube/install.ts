/**
 * Test support (not product): installs exactly what deploy/ ships into a real API server:
 * the self-signed overlay rendered by the offline kustomize renderer of test/checks (CRDs,
 * namespace, RBAC, ConfigMaps, Deployment, DaemonSet, Service, webhook, NetworkPolicies,
 * the certgen Job), applied server-side with strict field validation. Workload objects are
 * stored but not run (no workload controllers here); the coordinator and agents run as
 * local processes instead. Two things differ from a cluster, both because there is no
 * Service network on this machine: the webhook is called at a loopback URL instead of
 * through its Service, and its caBundle is the test's (filled the way the self-signed
 * overlay's Job patches it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEPLOY, render } from '../checks/manifests.js';
import type { ControlPlane } from './control-plane.js';
import { KubeRest, type KubeObject } from './rest.js';

export const FERRY_NAMESPACE = 'ferry-system';
export const COORDINATOR_SERVICE_ACCOUNT = 'ferry-coordinator';
const WEBHOOK_NAME = 'ferry-coordinator';

export interface InstallOptions {
  /** Where the API server calls the restore-wait webhook, and the CA of its certificate. */
  readonly webhook?: { readonly url: string; readonly caPem: string };
  /** A kustomization directory to apply (default: deploy/overlays/self-signed). */
  readonly dir?: string;
}

export interface Installed {
  /** Every object applied, as the server stored it. */
  readonly objects: readonly KubeObject[];
}

function isCrd(o: KubeObject): boolean {
  return o.kind === 'CustomResourceDefinition';
}

/** Applies the rendered manifests (CRDs first, waiting until they are served). */
export async function installFerry(cp: ControlPlane, o: InstallOptions = {}): Promise<Installed> {
  const rest = new KubeRest(cp.adminKubeConfig());
  const manifests = render(o.dir ?? join(DEPLOY, 'overlays', 'self-signed')).objects.map((m) => m.object as unknown as KubeObject);
  const stored: KubeObject[] = [];
  for (const crd of manifests.filter(isCrd)) stored.push(await rest.apply(crd));
  await waitEstablished(rest, manifests.filter(isCrd).map((c) => c.metadata.name));
  rest.forget();
  const others = manifests.filter((m) => !isCrd(m));
  // Namespaces before what lives in them.
  for (const m of [...others.filter((x) => x.kind === 'Namespace'), ...others.filter((x) => x.kind !== 'Namespace')]) stored.push(await rest.apply(m));
  if (o.webhook) await pointWebhook(rest, o.webhook);
  return { objects: stored };
}

async function waitEstablished(rest: KubeRest, names: readonly string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const name of names) {
    for (;;) {
      const r = await rest.call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      const conditions = (JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30 s: ${r.body.slice(0, 400)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/** The shipped webhook with its Service reference swapped for a loopback URL and the caBundle set. */
async function pointWebhook(rest: KubeRest, w: { url: string; caPem: string }): Promise<void> {
  const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_NAME}`;
  const current = JSON.parse((await rest.call('GET', path)).body) as { webhooks: { clientConfig: Record<string, unknown> }[] };
  const ops = current.webhooks.flatMap((_, i) => [
    { op: 'remove', path: `/webhooks/${i}/clientConfig/service` },
    { op: 'add', path: `/webhooks/${i}/clientConfig/url`, value: w.url },
    { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: Buffer.from(w.caPem).toString('base64') },
  ]);
  const r = await rest.call('PATCH', path, JSON.stringify(ops), 'application/json-patch+json');
  if (r.status >= 300) throw new Error(`pointing the webhook at ${w.url}: HTTP ${r.status}: ${r.body.slice(0, 400)}`);
}

/**
 * A kubeconfig for the coordinator's own ServiceAccount (what its Deployment's projected token
 * gives it); `server` points it elsewhere than the API server (a proxy in front of it).
 */
export async function coordinatorKubeConfigYaml(cp: ControlPlane, server = cp.url): Promise<string> {
  const token = await cp.serviceAccountToken(FERRY_NAMESPACE, COORDINATOR_SERVICE_ACCOUNT, 6 * 3600);
  return cp.tokenKubeConfig(token, 'ferry-coordinator', server).exportConfig();
}

/** The VolumeSnapshot CRDs vendored from external-snapshotter (test/kube/crds/external-snapshotter, see its NOTICE). */
export const SNAPSHOT_CRD_FILES = ['volumesnapshotclasses', 'volumesnapshotcontents', 'volumesnapshots'].map((p) => join(import.meta.dirname, 'crds', 'external-snapshotter', `snapshot.storage.k8s.io_${p}.yaml`));

/** Installs the snapshot.storage.k8s.io CRDs as a cluster with the CSI external-snapshotter has them. */
export async function installSnapshotCrds(cp: ControlPlane): Promise<void> {
  const rest = new KubeRest(cp.adminKubeConfig());
  const crds = SNAPSHOT_CRD_FILES.map((f) => parseYaml(readFileSync(f, 'utf8')) as KubeObject);
  for (const crd of crds) await rest.apply(crd);
  await waitEstablished(rest, crds.map((c) => c.metadata.name));
}
