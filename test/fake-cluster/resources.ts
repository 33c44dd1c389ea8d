/**
 * FAKE Kubernetes API server (test support, never shipped): the table of resource types the
 * fake serves. Built-in kinds are plain storage (no controllers run for them, except the
 * namespace lifecycle and garbage collection in gc.ts); custom resources are added at runtime
 * with `registerCustomResource`, as a CRD would add them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export type NameRule = 'subdomain' | 'label';

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  /** PUT/PATCH on the main resource keep the stored status; `/status` changes status only. */
  statusSubresource: boolean;
  shortNames: string[];
  /** Field-selector labels accepted besides metadata.name and metadata.namespace. */
  fieldLabels: string[];
  nameRule: NameRule;
  /** DELETE answers the deleted object (true) or a Success Status (false), as the real registry does. */
  returnDeletedObject: boolean;
  /** Only create is served (TokenReview, SubjectAccessReview); nothing is stored. */
  createOnly: boolean;
  /** Status a freshly created object starts with when status is a subresource. */
  initialStatus?: Record<string, unknown>;
  /** Registered like a CRD: list items keep kind/apiVersion, as with real custom resources. */
  custom: boolean;
}

export interface CustomResourceDefinition {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  singular?: string;
  shortNames?: string[];
  /** Defaults to true: the Ferry CRDs all have the status subresource. */
  statusSubresource?: boolean;
}

type Partial1 = Pick<ResourceType, 'group' | 'version' | 'plural' | 'kind' | 'namespaced'> & Partial<ResourceType>;

function define(p: Partial1): ResourceType {
  return {
    singular: p.kind.toLowerCase(),
    statusSubresource: false,
    shortNames: [],
    fieldLabels: [],
    nameRule: 'subdomain',
    returnDeletedObject: false,
    createOnly: false,
    custom: false,
    ...p,
  };
}

const POD_FIELDS = ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'];
const EVENT_FIELDS = ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'];

export function builtinResources(): ResourceType[] {
  return [
    define({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false, statusSubresource: true, shortNames: ['ns'], fieldLabels: ['status.phase'], nameRule: 'label', returnDeletedObject: true, initialStatus: { phase: 'Active' } }),
    define({ group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false, statusSubresource: true, shortNames: ['no'], fieldLabels: ['spec.unschedulable'], returnDeletedObject: true, initialStatus: {} }),
    define({ group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true, statusSubresource: true, shortNames: ['po'], fieldLabels: POD_FIELDS, returnDeletedObject: true, initialStatus: { phase: 'Pending', qosClass: 'BestEffort' } }),
    define({ group: '', version: 'v1', plural: 'persistentvolumeclaims', singular: 'persistentvolumeclaim', kind: 'PersistentVolumeClaim', namespaced: true, statusSubresource: true, shortNames: ['pvc'], returnDeletedObject: true, initialStatus: { phase: 'Pending' } }),
    define({ group: '', version: 'v1', plural: 'persistentvolumes', singular: 'persistentvolume', kind: 'PersistentVolume', namespaced: false, statusSubresource: true, shortNames: ['pv'], returnDeletedObject: true, initialStatus: { phase: 'Pending' } }),
    define({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, fieldLabels: ['type'] }),
    define({ group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
    define({ group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'], fieldLabels: EVENT_FIELDS }),
    define({ group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] }),
    define({ group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'], fieldLabels: ['regarding.kind', 'regarding.name', 'regarding.namespace', 'regarding.uid', 'reason', 'type', 'reportingController'] }),
    define({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true }),
    define({ group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true, statusSubresource: true, shortNames: ['deploy'], initialStatus: {} }),
    define({ group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet', namespaced: true, statusSubresource: true, shortNames: ['rs'], initialStatus: {} }),
    define({ group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true, statusSubresource: true, shortNames: ['sts'], initialStatus: {} }),
    define({ group: 'authentication.k8s.io', version: 'v1', plural: 'tokenreviews', kind: 'TokenReview', namespaced: false, createOnly: true }),
    define({ group: 'authorization.k8s.io', version: 'v1', plural: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false, createOnly: true }),
    define({ group: 'authorization.k8s.io', version: 'v1', plural: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false, createOnly: true }),
  ];
}

export function customResource(crd: CustomResourceDefinition): ResourceType {
  const hasStatus = crd.statusSubresource ?? true;
  return define({
    group: crd.group,
    version: crd.version,
    plural: crd.plural,
    kind: crd.kind,
    namespaced: crd.namespaced,
    singular: crd.singular ?? crd.kind.toLowerCase(),
    shortNames: crd.shortNames ?? [],
    statusSubresource: hasStatus,
    returnDeletedObject: true,
    custom: true,
  });
}

/**
 * The Ferry CRDs (`ferry.dev/v1alpha1`), registered by default: read from the generated
 * manifests in deploy/crds, so group, names, scope and the status subresource are the ones
 * a real cluster would get from `kubectl apply -k deploy/crds`.
 */
export const FERRY_CRDS: readonly CustomResourceDefinition[] = loadCrdManifests(fileURLToPath(new URL('../../deploy/crds/', import.meta.url)));

interface CrdManifest {
  kind?: string;
  spec?: {
    group?: string;
    scope?: 'Namespaced' | 'Cluster';
    names?: { kind?: string; plural?: string; singular?: string; shortNames?: string[] };
    versions?: { name?: string; served?: boolean; storage?: boolean; subresources?: { status?: unknown } }[];
  };
}

/** Every `*.yaml` CustomResourceDefinition in `dir`, as the fake registers it (the storage version). */
export function loadCrdManifests(dir: string): CustomResourceDefinition[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((file) => {
    const doc = parseYaml(readFileSync(join(dir, file), 'utf8')) as CrdManifest;
    const spec = doc.spec;
    const version = spec?.versions?.find((v) => v.storage) ?? spec?.versions?.[0];
    const names = spec?.names;
    if (doc.kind !== 'CustomResourceDefinition' || !spec?.group || !names?.kind || !names.plural || !version?.name || !spec.scope) {
      throw new Error(`${join(dir, file)} is not a complete CustomResourceDefinition (group, names.kind, names.plural, scope and a version are needed)`);
    }
    return {
      group: spec.group,
      version: version.name,
      plural: names.plural,
      kind: names.kind,
      namespaced: spec.scope === 'Namespaced',
      ...(names.singular ? { singular: names.singular } : {}),
      ...(names.shortNames ? { shortNames: names.shortNames } : {}),
      statusSubresource: version.subresources?.status !== undefined,
    };
  });
}

export function apiVersionOf(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

/** Resources by `group/version/plural`. */
export class ResourceRegistry {
  private readonly byKey = new Map<string, ResourceType>();

  constructor(types: ResourceType[]) {
    for (const t of types) this.add(t);
  }

  add(rt: ResourceType): void {
    this.byKey.set(resourceKey(rt), rt);
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byKey.get(`${group}/${version}/${plural}`);
  }

  all(): ResourceType[] {
    return [...this.byKey.values()];
  }

  /** Group names in registration order; '' is the core group. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const rt of this.byKey.values()) {
      const versions = out.get(rt.group) ?? [];
      if (!versions.includes(rt.version)) versions.push(rt.version);
      out.set(rt.group, versions);
    }
    return out;
  }
}

export function resourceKey(rt: Pick<ResourceType, 'group' | 'version' | 'plural'>): string {
  return `${rt.group}/${rt.version}/${rt.plural}`;
}
