/**
 * FAKE Kubernetes API server (test support, never shipped): the defaulting and built-in
 * admission a real API server applies to new objects before webhooks see them. Pods get
 * the usual spec defaults and, like the ServiceAccount admission plugin does, a projected
 * `kube-api-access-xxxxx` token volume mounted into every container. Code that inspects
 * pod volumes must cope with that volume, so the fake adds it.
 */
import type { Obj } from './store.js';

interface Container {
  name: string;
  image?: string;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  [k: string]: unknown;
}

interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  volumes?: Record<string, unknown>[];
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  [k: string]: unknown;
}

const TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
const CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += CHARS[Math.floor(Math.random() * CHARS.length)];
  return s;
}

function defaultContainer(c: Container): Container {
  const latest = !c.image || c.image.endsWith(':latest') || !c.image.includes(':');
  return {
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: latest ? 'Always' : 'IfNotPresent',
    resources: {},
    ...c,
  };
}

function tokenVolume(name: string): Record<string, unknown> {
  return {
    name,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

function mountToken(c: Container, volume: string): Container {
  if ((c.volumeMounts ?? []).some((m) => m.mountPath === TOKEN_PATH)) return c;
  return { ...c, volumeMounts: [...(c.volumeMounts ?? []), { name: volume, readOnly: true, mountPath: TOKEN_PATH }] };
}

/** Spec defaults plus the service-account token volume, applied to a copy. */
export function defaultPod(pod: Obj): Obj {
  const spec: PodSpec = { ...((pod.spec ?? {}) as PodSpec) };
  const sa = spec.serviceAccountName ?? 'default';
  let containers = (spec.containers ?? []).map(defaultContainer);
  let initContainers = spec.initContainers?.map(defaultContainer);
  let volumes = spec.volumes;
  if (spec.automountServiceAccountToken !== false) {
    const vol = `kube-api-access-${randomSuffix()}`;
    volumes = [...(volumes ?? []), tokenVolume(vol)];
    containers = containers.map((c) => mountToken(c, vol));
    initContainers = initContainers?.map((c) => mountToken(c, vol));
  }
  const out: PodSpec = {
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    schedulerName: 'default-scheduler',
    securityContext: {},
    enableServiceLinks: true,
    priority: 0,
    preemptionPolicy: 'PreemptLowerPriority',
    ...spec,
    serviceAccountName: sa,
    serviceAccount: sa,
    containers,
    ...(initContainers ? { initContainers } : {}),
    ...(volumes ? { volumes } : {}),
  };
  return { ...pod, spec: out };
}

/** Namespaces carry their own name as a label, which namespaceSelectors rely on. */
export function defaultNamespace(ns: Obj): Obj {
  const name = ns.metadata.name ?? '';
  const spec = { finalizers: ['kubernetes'], ...((ns.spec ?? {}) as object) };
  return { ...ns, spec, metadata: { ...ns.metadata, labels: { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name } } };
}

export function defaultVolumeMode(obj: Obj): Obj {
  return { ...obj, spec: { volumeMode: 'Filesystem', ...((obj.spec ?? {}) as object) } };
}
