/**
 * FAKE Kubernetes API server (test support, never shipped): the legacy (unaggregated)
 * discovery documents: /api, /apis, /apis/<group>, /api/v1 and /apis/<group>/<version>,
 * which is what KubernetesObjectApi reads to map kinds to resources. /version too.
 */
import type { ResourceRegistry, ResourceType } from './resources.js';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function versionInfo(): Record<string, unknown> {
  return { major: '1', minor: '31', gitVersion: 'v1.31.0-ferry-fake-cluster', platform: 'linux/amd64', goVersion: 'none (fake)', compiler: 'none' };
}

export function coreVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function group(name: string, versions: string[]): Record<string, unknown> {
  const gvs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: gvs, preferredVersion: gvs[0] };
}

export function groupList(registry: ResourceRegistry): Record<string, unknown> {
  const groups = [...registry.groups()].filter(([g]) => g !== '').map(([g, vs]) => group(g, vs));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function groupDoc(registry: ResourceRegistry, name: string): Record<string, unknown> | undefined {
  const versions = registry.groups().get(name);
  return versions && name !== '' ? { kind: 'APIGroup', apiVersion: 'v1', ...group(name, versions) } : undefined;
}

function entries(rt: ResourceType): Record<string, unknown>[] {
  const main = {
    name: rt.plural,
    singularName: rt.singular,
    namespaced: rt.namespaced,
    kind: rt.kind,
    verbs: rt.createOnly ? ['create'] : VERBS,
    ...(rt.shortNames.length ? { shortNames: rt.shortNames } : {}),
  };
  const out: Record<string, unknown>[] = [main];
  const sub = (name: string, kind: string, verbs: string[]) => out.push({ name: `${rt.plural}/${name}`, singularName: '', namespaced: rt.namespaced, kind, verbs });
  if (rt.statusSubresource) sub('status', rt.kind, ['get', 'patch', 'update']);
  if (rt.plural === 'pods' && !rt.group) {
    sub('binding', 'Binding', ['create']);
    sub('exec', 'PodExecOptions', ['create', 'get']);
  }
  return out;
}

export function resourceList(registry: ResourceRegistry, groupName: string, version: string): Record<string, unknown> | undefined {
  const types = registry.all().filter((rt) => rt.group === groupName && rt.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupName ? `${groupName}/${version}` : version,
    resources: types.flatMap(entries),
  };
}
