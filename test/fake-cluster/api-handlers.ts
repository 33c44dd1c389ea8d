/**
 * FAKE Kubernetes API server (test support, never shipped): one handler per API verb
 * (get, list, watch, create, update, patch, delete, deletecollection) plus the pod binding
 * subresource and the TokenReview/SubjectAccessReview endpoints.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserInfo } from './auth.js';
import { ApiError, badRequest, conflict, gone, invalid, methodNotAllowed, unsupportedMediaType } from './errors.js';
import { applyJsonPatch, applyMergePatch, PatchError } from './json-patch.js';
import type { Json } from './json-patch.js';
import { defaultNamespace, defaultPod, defaultVolumeMode } from './pod-defaults.js';
import { apiVersionOf } from './resources.js';
import type { ResourceType } from './resources.js';
import { isSecretType, mergeStringData } from './secrets.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { objectKey, timestamp } from './store.js';
import type { DeleteOptions, Obj } from './store.js';
import { serveWatch } from './watch.js';
import type { ResourceRoute, ServerContext } from './http-router.js';
import { sendJson } from './http-router.js';

export interface RequestState {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  user: UserInfo;
  route: ResourceRoute;
}

const MAX_BODY = 32 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 32MiB');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`error decoding request body: ${(err as Error).message}`);
  }
}

async function readObject(req: IncomingMessage): Promise<Obj> {
  const body = await readJson(req);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const obj = body as Obj;
  return { ...obj, metadata: { ...(obj.metadata ?? {}) } };
}

function verbOf(s: RequestState): string {
  const { route, url } = s;
  const watch = url.searchParams.get('watch');
  switch (s.req.method) {
    case 'GET':
      if (route.name) return 'get';
      return watch === 'true' || watch === '1' ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name ? 'delete' : 'deletecollection';
    default:
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  }
}

function checkSubresource(s: RequestState, verb: string): void {
  const { rt, subresource } = s.route;
  if (subresource === undefined) return;
  const pod = rt.plural === 'pods' && !rt.group;
  if (subresource === 'status' && rt.statusSubresource && ['get', 'update', 'patch'].includes(verb)) return;
  if (subresource === 'binding' && pod && verb === 'create') return;
  if (subresource === 'exec' && pod) throw badRequest('Upgrade request required');
  throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

export async function handleResource(ctx: ServerContext, s: RequestState): Promise<void> {
  const verb = verbOf(s);
  const { rt, namespace, name, subresource } = s.route;
  ctx.authz.require(s.user, { verb, group: rt.group, resource: rt.plural, subresource, namespace, name });
  if (s.url.searchParams.has('dryRun')) throw badRequest('dryRun is not supported by the fake API server');
  checkSubresource(s, verb);
  if (rt.createOnly && verb !== 'create') throw methodNotAllowed(`${rt.plural} only supports create`);
  if (rt.namespaced && namespace === undefined && !['list', 'watch'].includes(verb)) {
    throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  }
  await HANDLERS[verb]!(ctx, s);
}

type Handler = (ctx: ServerContext, s: RequestState) => Promise<void> | void;

const HANDLERS: Record<string, Handler> = {
  get: (ctx, s) => sendJson(s.res, 200, ctx.store.get(s.route.rt, s.route.namespace ?? '', s.route.name!)),
  list: handleList,
  watch: handleWatch,
  create: handleCreate,
  update: handleUpdate,
  patch: handlePatch,
  delete: handleDelete,
  deletecollection: handleDeleteCollection,
};

function selection(s: RequestState): (o: Obj) => boolean {
  const labels = parseLabelSelector(s.url.searchParams.get('labelSelector'));
  const fields = parseFieldSelector(s.url.searchParams.get('fieldSelector'), s.route.rt);
  return (o) => labels(o.metadata.labels ?? {}) && fields(o as unknown as Record<string, unknown>);
}

interface ContinueToken {
  rv: number;
  after: string;
}

function decodeContinue(ctx: ServerContext, token: string | null): ContinueToken | undefined {
  if (!token) return undefined;
  let t: ContinueToken;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
  } catch {
    throw badRequest(`continue key is not valid: ${token}`);
  }
  if (!ctx.history.isRetained(t.rv)) {
    throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
  }
  return t;
}

function listItem(rt: ResourceType, o: Obj): Obj {
  if (rt.custom) return o;
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as Obj;
}

function handleList(ctx: ServerContext, s: RequestState): void {
  const { rt, namespace } = s.route;
  const matches = selection(s);
  const cont = decodeContinue(ctx, s.url.searchParams.get('continue'));
  const limit = Number(s.url.searchParams.get('limit') ?? '0');
  const key = (o: Obj) => objectKey(rt, o.metadata.namespace ?? '', o.metadata.name!);
  let items = ctx.store.list(rt, namespace).filter(matches);
  if (cont) items = items.filter((o) => key(o) > cont.after);
  const rv = cont?.rv ?? ctx.store.currentRv();
  const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
  if (limit > 0 && items.length > limit) {
    metadata.remainingItemCount = items.length - limit;
    items = items.slice(0, limit);
    metadata.continue = Buffer.from(JSON.stringify({ rv, after: key(items[items.length - 1]!) })).toString('base64url');
  }
  sendJson(s.res, 200, { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata, items: items.map((o) => listItem(rt, o)) });
}

function handleWatch(ctx: ServerContext, s: RequestState): void {
  const q = s.url.searchParams;
  const rv = q.get('resourceVersion');
  if (rv && !/^[0-9]+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
  const timeout = q.get('timeoutSeconds');
  serveWatch(s.req, s.res, {
    rt: s.route.rt,
    namespace: s.route.namespace,
    matches: selection(s),
    resourceVersion: rv,
    allowBookmarks: q.get('allowWatchBookmarks') === 'true',
    sendInitialEvents: q.get('sendInitialEvents') === 'true',
    timeoutSeconds: timeout ? Number(timeout) : undefined,
  }, {
    history: ctx.history,
    currentRv: () => ctx.store.currentRv(),
    listNow: (rt, ns) => ctx.store.list(rt, ns),
    bookmarkIntervalMs: ctx.bookmarkIntervalMs,
    open: ctx.openWatches,
  });
}

function withNamespace(s: RequestState, obj: Obj): Obj {
  const { rt, namespace } = s.route;
  if (!rt.namespaced) return obj;
  if (obj.metadata.namespace && obj.metadata.namespace !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  return { ...obj, metadata: { ...obj.metadata, namespace } };
}

function builtinDefaults(rt: ResourceType, obj: Obj): Obj {
  if (rt.group || rt.custom) return obj;
  if (isSecretType(rt)) return mergeStringData(obj);
  if (rt.plural === 'pods') return defaultPod(obj);
  if (rt.plural === 'namespaces') return defaultNamespace(obj);
  if (rt.plural === 'persistentvolumeclaims' || rt.plural === 'persistentvolumes') return defaultVolumeMode(obj);
  return obj;
}

function namespaceLabels(ctx: ServerContext, ns: string | undefined): Record<string, string> {
  return (ns && ctx.store.tryGet(ctx.namespaceType, '', ns)?.metadata.labels) || {};
}

async function handleCreate(ctx: ServerContext, s: RequestState): Promise<void> {
  const { rt, namespace, subresource } = s.route;
  const body = await readObject(s.req);
  if (rt.createOnly) return review(ctx, s, body);
  if (subresource === 'binding') return bind(ctx, s, body);
  const obj = builtinDefaults(rt, withNamespace(s, body));
  const admitted = await ctx.admission.admit({ operation: 'CREATE', rt, namespace: namespace ?? '', object: obj, user: s.user, namespaceLabels: namespaceLabels(ctx, namespace) });
  sendJson(s.res, 201, ctx.store.create(rt, namespace ?? '', admitted));
}

function review(ctx: ServerContext, s: RequestState, body: Obj): void {
  const spec = (body.spec ?? {}) as Record<string, unknown>;
  const kind = s.route.rt.kind;
  let status: Record<string, unknown>;
  if (kind === 'TokenReview') status = ctx.authn.review(spec);
  else if (kind === 'SelfSubjectAccessReview') status = ctx.authz.review({ ...spec, user: s.user.username, groups: s.user.groups ?? [] });
  else status = ctx.authz.review(spec);
  sendJson(s.res, 201, { kind, apiVersion: apiVersionOf(s.route.rt), metadata: { creationTimestamp: null }, spec, status });
}

/** POST pods/<name>/binding: what a scheduler does to put a pod on a node. */
function bind(ctx: ServerContext, s: RequestState, body: Obj): void {
  const { rt, namespace, name } = s.route;
  const target = (body as { target?: { name?: string } }).target?.name;
  if (!target) throw invalid(rt, name!, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'target.name' }]);
  ctx.store.mutate(rt, namespace!, name!, (pod) => {
    const spec = (pod.spec ?? {}) as { nodeName?: string };
    if (spec.nodeName) throw conflict(rt, name!, `pod ${name} is already assigned to node "${spec.nodeName}"`);
    if (pod.metadata.deletionTimestamp) throw conflict(rt, name!, `pod ${name} is being deleted, cannot be assigned to a host`);
    const status = (pod.status ?? {}) as { conditions?: Record<string, unknown>[] };
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp(new Date()) });
    return { ...pod, spec: { ...spec, nodeName: target }, status: { ...status, conditions } };
  });
  sendJson(s.res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}

async function handleUpdate(ctx: ServerContext, s: RequestState): Promise<void> {
  const { rt, namespace, name, subresource } = s.route;
  const body = withNamespace(s, await readObject(s.req));
  const sub = subresource === 'status' ? 'status' : undefined;
  const obj = sub ? body : await admitUpdate(ctx, s, isSecretType(rt) ? mergeStringData(body) : body);
  sendJson(s.res, 200, ctx.store.update(rt, namespace ?? '', name!, obj, sub));
}

async function admitUpdate(ctx: ServerContext, s: RequestState, obj: Obj): Promise<Obj> {
  const { rt, namespace, name } = s.route;
  const old = ctx.store.get(rt, namespace ?? '', name!);
  return ctx.admission.admit({ operation: 'UPDATE', rt, namespace: namespace ?? '', object: obj, oldObject: old, user: s.user, namespaceLabels: namespaceLabels(ctx, namespace) });
}

function patcher(rt: ResourceType, contentType: string, patch: unknown): (cur: Obj) => Obj {
  const type = contentType.split(';')[0]!.trim();
  const wrap = (fn: (cur: Json) => Json) => (cur: Obj): Obj => {
    try {
      return fn(cur as unknown as Json) as unknown as Obj;
    } catch (err) {
      if (err instanceof PatchError) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${err.message}`);
      throw err;
    }
  };
  if (type === 'application/json-patch+json') return wrap((cur) => applyJsonPatch(cur, patch));
  if (type === 'application/merge-patch+json' || (type === 'application/strategic-merge-patch+json' && !rt.custom)) {
    return wrap((cur) => applyMergePatch(cur, patch as Json));
  }
  throw unsupportedMediaType(type);
}

async function handlePatch(ctx: ServerContext, s: RequestState): Promise<void> {
  const { rt, namespace, name, subresource } = s.route;
  const patch = patcher(rt, s.req.headers['content-type'] ?? '', await readJson(s.req));
  const fn = isSecretType(rt) ? (cur: Obj) => mergeStringData(patch(cur)) : patch;
  const sub = subresource === 'status' ? 'status' : undefined;
  sendJson(s.res, 200, ctx.store.patch(rt, namespace ?? '', name!, fn, sub));
}

async function deleteOptions(s: RequestState): Promise<DeleteOptions> {
  const body = ((await readJson(s.req)) ?? {}) as DeleteOptions;
  const q = s.url.searchParams;
  const grace = q.get('gracePeriodSeconds');
  const policy = q.get('propagationPolicy') as DeleteOptions['propagationPolicy'] | null;
  return {
    ...(body.preconditions ? { preconditions: body.preconditions } : {}),
    ...(grace !== null ? { gracePeriodSeconds: Number(grace) } : body.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: body.gracePeriodSeconds } : {}),
    ...(policy ? { propagationPolicy: policy } : body.propagationPolicy ? { propagationPolicy: body.propagationPolicy } : {}),
  };
}

function deletedStatus(rt: ResourceType, obj: Obj): Record<string, unknown> {
  const details = { name: obj.metadata.name, ...(rt.group ? { group: rt.group } : {}), kind: rt.plural, uid: obj.metadata.uid };
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

async function handleDelete(ctx: ServerContext, s: RequestState): Promise<void> {
  const { rt, namespace, name } = s.route;
  const result = ctx.store.delete(rt, namespace ?? '', name!, await deleteOptions(s));
  const body = !result.removed || rt.returnDeletedObject ? result.object : deletedStatus(rt, result.object);
  sendJson(s.res, 200, body);
}

async function handleDeleteCollection(ctx: ServerContext, s: RequestState): Promise<void> {
  const { rt, namespace } = s.route;
  const opts = await deleteOptions(s);
  const items = ctx.store.list(rt, namespace).filter(selection(s));
  const deleted = items.map((o) => ctx.store.delete(rt, o.metadata.namespace ?? '', o.metadata.name!, opts).object);
  sendJson(s.res, 200, { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(ctx.store.currentRv()) }, items: deleted });
}
