/**
 * The admission webhook for Restore CREATE and UPDATE (restores.ferry.dev in
 * deploy/base/webhook.yaml, failurePolicy Fail). It is how a Restore made with kubectl gets
 * an unforgeable creator: the API server tells the webhook who asks (request.userInfo).
 *
 * CREATE: a Restore outside the coordinator's namespace that reaches other namespaces
 * (namespaceMapping, namespacePrefix/Suffix, spec.snapshots of another namespace) is
 * allowed only when a SubjectAccessReview for the requester allows every check of
 * `restoreAccessChecks` (create restores in each target, get backups in each source); the
 * denial names the namespace and the missing permission. Every admitted Restore gets
 * CREATED_BY_ANNOTATION set to the requester, whatever the request said.
 * UPDATE: changing that annotation or a placement field is refused (the check was for the
 * spec as created).
 */
import { targetNamespaceProblem } from '@ferry/api';
import type { UserIdentity } from './cluster/cluster-state.js';
import type { ControllerContext } from './context.js';
import { CREATED_BY_ANNOTATION, PLACEMENT_FIELDS, reachesOtherNamespaces, restoreAccessChecks, restoreSources } from './controllers/restore-namespaces.js';
import type { RestoreObject } from './objects.js';

export interface RestoreAdmissionRequest {
  readonly uid: string;
  readonly operation?: string;
  readonly namespace?: string;
  readonly userInfo?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  readonly object?: RestoreObject;
  readonly oldObject?: RestoreObject;
}

export interface RestoreAdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; reason: string; message: string };
}

export type RestoreAdmissionResult = 'stamped' | 'denied' | 'unchanged';

export async function reviewRestore(c: ControllerContext, req: RestoreAdmissionRequest): Promise<{ response: RestoreAdmissionResponse; result: RestoreAdmissionResult }> {
  const restore = req.object;
  if (!restore) return { response: { uid: req.uid, allowed: true }, result: 'unchanged' };
  if (req.operation === 'UPDATE') return reviewUpdate(req, restore);
  if (req.operation !== 'CREATE') return { response: { uid: req.uid, allowed: true }, result: 'unchanged' };
  const user = requester(req);
  const namespace = req.namespace || restore.metadata.namespace || '';
  const refusal = await refuseCreate(c, user, namespace, restore);
  if (refusal) return denied(req.uid, refusal.code, refusal.message);
  return { response: { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(stampPatch(restore, user.username))).toString('base64') }, result: 'stamped' };
}

function requester(req: RestoreAdmissionRequest): UserIdentity {
  const u = req.userInfo ?? {};
  return { username: u.username ?? '', groups: u.groups ?? [], ...(u.uid ? { uid: u.uid } : {}), ...(u.extra ? { extra: u.extra } : {}) };
}

async function refuseCreate(c: ControllerContext, user: UserIdentity, namespace: string, restore: RestoreObject): Promise<{ code: number; message: string } | undefined> {
  if (user.username === '') return { code: 403, message: 'the admission request names no user; a Restore needs an authenticated creator' };
  const what = `Restore ${namespace}/${restore.metadata.name ?? ''}`;
  if (namespace === c.settings.namespace || !reachesOtherNamespaces(restore.spec, namespace)) return undefined;
  for (const source of restoreSources(restore.spec, namespace)) {
    const problem = targetNamespaceProblem(restore.spec, source);
    if (problem) return { code: 422, message: `${what}: ${problem}` };
  }
  for (const check of restoreAccessChecks(restore.spec, namespace)) {
    const decision = await c.cluster.authorize({ user, verb: check.verb, resource: check.resource, namespace: check.namespace });
    if (decision.allowed) continue;
    const role = check.resource === 'restores' ? 'restores into it' : 'reads its snapshots';
    return { code: 403, message: `user ${user.username} may not ${check.verb} ${check.resource}.ferry.dev in namespace ${check.namespace}, which ${what} ${role}; grant it with a Role binding in ${check.namespace}, or restore from ${c.settings.namespace} as an administrator` };
  }
  return undefined;
}

function reviewUpdate(req: RestoreAdmissionRequest, restore: RestoreObject): { response: RestoreAdmissionResponse; result: RestoreAdmissionResult } {
  const old = req.oldObject;
  const what = `Restore ${req.namespace ?? ''}/${restore.metadata.name ?? ''}`;
  if (old?.metadata.annotations?.[CREATED_BY_ANNOTATION] !== restore.metadata.annotations?.[CREATED_BY_ANNOTATION]) {
    return denied(req.uid, 403, `${what}: the ${CREATED_BY_ANNOTATION} annotation is set by the restores.ferry.dev webhook when the Restore is created and cannot be changed`);
  }
  const changed = PLACEMENT_FIELDS.filter((f) => stable(old?.spec[f]) !== stable(restore.spec[f]));
  if (changed.length > 0) return denied(req.uid, 403, `${what}: spec.${changed.join(', spec.')} cannot change after creation (its creator's rights were checked for the spec as created); create a new Restore instead`);
  return { response: { uid: req.uid, allowed: true }, result: 'unchanged' };
}

function denied(uid: string, code: number, message: string): { response: RestoreAdmissionResponse; result: RestoreAdmissionResult } {
  return { response: { uid, allowed: false, status: { code, reason: code === 422 ? 'Invalid' : 'Forbidden', message } }, result: 'denied' };
}

function stampPatch(restore: RestoreObject, username: string): unknown[] {
  const key = `/metadata/annotations/${CREATED_BY_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  const ops: unknown[] = restore.metadata.annotations ? [] : [{ op: 'add', path: '/metadata/annotations', value: {} }];
  return [...ops, { op: 'add', path: key, value: username }];
}

/** JSON with sorted keys, so two decodings of the same value compare equal. */
function stable(value: unknown): string {
  if (value === undefined) return '';
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v));
}
