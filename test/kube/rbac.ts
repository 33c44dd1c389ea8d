/**
 * Test support (not product): a test's access rules as real RBAC objects. Each rule becomes
 * a ClusterRole, bound by a RoleBinding in each namespace it names (a Role's reach) or by a
 * ClusterRoleBinding when it names none, so the real authorizer answers the coordinator's
 * SubjectAccessReviews exactly as a cluster with those bindings would.
 */
import { CoreV1Api, RbacAuthorizationV1Api, type KubeConfig, type RbacV1Subject } from '@kubernetes/client-node';
import type { PolicyRule } from '../fake-cluster/auth.js';

function subjects(rule: PolicyRule): RbacV1Subject[] {
  return [
    ...(rule.users ?? []).map((name) => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name })),
    ...(rule.groups ?? []).map((name) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name })),
  ];
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
}

/** Grants `rules` (named ferry-test-<prefix>-<i>); namespaces a rule names are created if missing. */
export async function grantRules(kc: KubeConfig, rules: readonly PolicyRule[], prefix = 'rule'): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  for (const [i, rule] of rules.entries()) {
    const name = `ferry-test-${prefix}-${i}`;
    const policy = { apiGroups: rule.apiGroups ?? [''], resources: rule.resources ?? [], verbs: rule.verbs, ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}) };
    const nonResource = rule.nonResourceURLs ? [{ nonResourceURLs: rule.nonResourceURLs, verbs: rule.verbs }] : [];
    await rbac.createClusterRole({ body: { metadata: { name }, rules: rule.resources || !rule.nonResourceURLs ? [policy, ...nonResource] : nonResource } });
    const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name };
    if (!rule.namespaces) {
      await rbac.createClusterRoleBinding({ body: { metadata: { name }, roleRef, subjects: subjects(rule) } });
      continue;
    }
    for (const namespace of rule.namespaces) {
      await ensureNamespace(core, namespace);
      await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name }, roleRef, subjects: subjects(rule) } });
    }
  }
}
