/**
 * Who is calling and may they: a verified TLS client certificate (user = CN, groups = O
 * entries) or a Kubernetes bearer token (TokenReview), then a SubjectAccessReview for the
 * verb on the ferry.dev resource in the target namespace. Kubernetes RBAC stays the one
 * place permissions are granted; the API adds none of its own.
 */
import type { Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import type { AccessRequest, ClusterState, UserIdentity } from '../cluster/cluster-state.js';
import { CoordinatorError } from '../errors.js';

export type Verb = AccessRequest['verb'];

/** The ferry.dev resources the API authorizes on (plural names, as RBAC rules spell them). */
export type ApiResource = 'backups' | 'restores' | 'backupschedules' | 'backuprepositories' | 'backuplocations';

export interface Caller {
  readonly user: UserIdentity;
  /** How the caller proved who they are (for logs). */
  readonly via: 'certificate' | 'token';
}

interface PeerCertificate {
  readonly subject?: Record<string, string | string[] | undefined>;
}

/** The user a verified client certificate names, as the Kubernetes API server reads it. */
export function certificateUser(cert: PeerCertificate | undefined): UserIdentity | undefined {
  const cn = cert?.subject?.['CN'];
  const username = Array.isArray(cn) ? cn[0] : cn;
  if (!username) return undefined;
  const o = cert?.subject?.['O'];
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { username, groups };
}

function bearerToken(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  const m = /^Bearer\s+(\S+)\s*$/i.exec(typeof value === 'string' ? value : '');
  return m?.[1];
}

/**
 * The caller of `call`. A token wins when both are present, so a tool holding a shared
 * client certificate can still act as a specific user.
 */
/** What authentication needs of a call (every grpc-js server call has it). */
export type CallCredentials = Pick<ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>;

export async function authenticate(cluster: ClusterState, call: CallCredentials): Promise<Caller> {
  const token = bearerToken(call.metadata);
  if (token !== undefined) {
    const user = await cluster.authenticate(token);
    if (!user) throw new CoordinatorError('Unauthenticated', 'the bearer token was rejected by the Kubernetes API (TokenReview); use a valid service account or user token');
    return { user, via: 'token' };
  }
  const auth = call.getAuthContext();
  const user = certificateUser(auth.sslPeerCertificate as PeerCertificate | undefined);
  if (user) return { user, via: 'certificate' };
  throw new CoordinatorError('Unauthenticated', "no credentials: send 'authorization: Bearer <token>' metadata or a client certificate signed by the API's client CA");
}

export interface AccessCheck {
  readonly verb: Verb;
  readonly resource: ApiResource;
  /** Undefined: cluster-wide (all namespaces). */
  readonly namespace?: string;
  readonly name?: string;
}

/** Throws PermissionDenied naming verb, resource and namespace unless every check is allowed. */
export async function authorize(cluster: ClusterState, caller: Caller, checks: readonly AccessCheck[]): Promise<void> {
  for (const c of checks) {
    const decision = await cluster.authorize({ user: caller.user, verb: c.verb, resource: c.resource, ...(c.namespace ? { namespace: c.namespace } : {}), ...(c.name ? { name: c.name } : {}) });
    if (!decision.allowed) {
      const scope = c.namespace ? `in namespace ${c.namespace}` : 'in all namespaces';
      throw new CoordinatorError('PermissionDenied', `user ${caller.user.username} may not ${c.verb} ${c.resource}.ferry.dev ${scope}; grant it with a Role/ClusterRole binding`);
    }
  }
}
