/**
 * FAKE Kubernetes API server (test support, never shipped): bearer-token authentication
 * and a small allow-list authorizer standing in for RBAC. The same table answers API
 * requests, TokenReview and SubjectAccessReview, so a component that authorizes its own
 * callers through the API sees the decisions the fake enforces on itself.
 * Members of `system:masters` may do anything, as in a real cluster.
 */
import { forbidden } from './errors.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface TokenEntry extends UserInfo {
  /** Audiences the token is valid for; absent means any audience a TokenReview asks for. */
  audiences?: string[];
}

/** One allow rule; lists default to "any" when absent, and `*` matches anything. */
export interface PolicyRule {
  users?: string[];
  groups?: string[];
  verbs: string[];
  apiGroups?: string[];
  /** `pods`, `pods/exec`, `*`, `*\/status`. */
  resources?: string[];
  /** Limits the rule to these namespaces (a Role); absent means every namespace and cluster scope. */
  namespaces?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface ResourceAttributes {
  verb: string;
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface NonResourceAttributes {
  verb: string;
  path: string;
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

const any = (list: string[] | undefined, v: string): boolean => !list || list.includes('*') || list.includes(v);

export class Authenticator {
  private readonly tokens = new Map<string, TokenEntry>();

  constructor(tokens: Record<string, TokenEntry> = {}) {
    for (const [t, u] of Object.entries(tokens)) this.addToken(t, u);
  }

  addToken(token: string, user: TokenEntry): void {
    this.tokens.set(token, user);
  }

  removeToken(token: string): void {
    this.tokens.delete(token);
  }

  /** The user behind `Authorization: Bearer <token>`, with system:authenticated added. */
  authenticate(authorization: string | undefined): UserInfo | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    return m ? this.lookup(m[1]!) : undefined;
  }

  lookup(token: string, audiences?: string[]): UserInfo | undefined {
    const entry = this.tokens.get(token);
    if (!entry) return undefined;
    if (audiences?.length && entry.audiences && !audiences.some((a) => entry.audiences!.includes(a))) return undefined;
    const { audiences: _a, ...user } = entry;
    const groups = [...(user.groups ?? [])];
    if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
    return { ...user, groups };
  }

  /** The status of a TokenReview for `spec`. */
  review(spec: { token?: string; audiences?: string[] }): Record<string, unknown> {
    const user = spec.token ? this.lookup(spec.token, spec.audiences) : undefined;
    if (!user) return { authenticated: false, error: 'invalid bearer token' };
    return { authenticated: true, user, audiences: spec.audiences ?? [] };
  }
}

export class Authorizer {
  constructor(private readonly rules: PolicyRule[] = []) {}

  addRule(rule: PolicyRule): void {
    this.rules.push(rule);
  }

  authorize(user: UserInfo, attrs: ResourceAttributes | NonResourceAttributes): Decision {
    if (user.groups?.includes('system:masters')) return { allowed: true, reason: 'member of system:masters' };
    const rule = this.rules.find((r) => subjectMatches(r, user) && ruleMatches(r, attrs));
    return rule ? { allowed: true, reason: 'allowed by fake-cluster policy rule' } : { allowed: false, reason: 'no fake-cluster policy rule allows this' };
  }

  /** Throws the 403 kube-apiserver sends when `user` may not do `attrs`. */
  require(user: UserInfo, attrs: ResourceAttributes): void {
    if (this.authorize(user, attrs).allowed) return;
    const res = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    const subject = attrs.name ? `${attrs.resource} "${attrs.name}"` : attrs.resource;
    const scope = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
    throw forbidden(`${subject} is forbidden: User "${user.username}" cannot ${attrs.verb} resource "${res}" in API group "${attrs.group ?? ''}" ${scope}`);
  }

  /** The status of a SubjectAccessReview for `spec`. */
  review(spec: { user?: string; groups?: string[]; uid?: string; resourceAttributes?: ResourceAttributes; nonResourceAttributes?: NonResourceAttributes }): Record<string, unknown> {
    const attrs = spec.resourceAttributes ?? spec.nonResourceAttributes;
    if (!attrs) return { allowed: false, evaluationError: 'neither resourceAttributes nor nonResourceAttributes given' };
    const d = this.authorize({ username: spec.user ?? '', groups: spec.groups ?? [] }, attrs);
    return d.allowed ? { allowed: true, reason: d.reason } : { allowed: false, reason: d.reason };
  }
}

function subjectMatches(r: PolicyRule, user: UserInfo): boolean {
  if (!r.users && !r.groups) return false;
  const byUser = r.users?.includes('*') || r.users?.includes(user.username);
  const byGroup = r.groups?.some((g) => g === '*' || (user.groups ?? []).includes(g));
  return Boolean(byUser || byGroup);
}

function ruleMatches(r: PolicyRule, attrs: ResourceAttributes | NonResourceAttributes): boolean {
  if (!any(r.verbs, attrs.verb)) return false;
  if ('path' in attrs) return (r.nonResourceURLs ?? []).some((u) => u === '*' || u === attrs.path || (u.endsWith('*') && attrs.path.startsWith(u.slice(0, -1))));
  if (r.nonResourceURLs && !r.resources) return false;
  if (!any(r.apiGroups, attrs.group ?? '')) return false;
  if (!resourceMatches(r.resources, attrs)) return false;
  if (r.namespaces && !(attrs.namespace && r.namespaces.includes(attrs.namespace))) return false;
  return !r.resourceNames || (attrs.name !== undefined && r.resourceNames.includes(attrs.name));
}

function resourceMatches(list: string[] | undefined, attrs: ResourceAttributes): boolean {
  if (!list) return true;
  const full = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : (attrs.resource ?? '');
  return list.some((r) => r === '*' || r === full || (attrs.subresource !== undefined && r === `*/${attrs.subresource}`));
}
