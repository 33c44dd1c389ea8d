/**
 * FAKE Kubernetes API server (test support, never shipped): URL routing, authentication,
 * authorization and error rendering in front of the verb handlers in api-handlers.ts.
 * Paths follow kube-apiserver: /api/v1/..., /apis/<group>/<version>/..., with
 * namespaces/<ns>/<resource>[/<name>[/<subresource>]] for namespaced resources.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MutatingAdmission } from './admission.js';
import type { Authenticator, Authorizer, UserInfo } from './auth.js';
import { coreVersions, groupDoc, groupList, resourceList, versionInfo } from './discovery.js';
import { ApiError, internalError, unauthorized } from './errors.js';
import type { ResourceRegistry, ResourceType } from './resources.js';
import type { Store } from './store.js';
import type { EventHistory } from './watch.js';
import { handleResource } from './api-handlers.js';

export interface ServerContext {
  registry: ResourceRegistry;
  store: Store;
  history: EventHistory;
  authn: Authenticator;
  authz: Authorizer;
  admission: MutatingAdmission;
  serverAddress: string;
  bookmarkIntervalMs: number;
  openWatches: Set<ServerResponse>;
  namespaceType: ResourceType;
}

export interface ResourceRoute {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export type Route = { discovery: Record<string, unknown> } | { resource: ResourceRoute } | { text: string };

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const api = err instanceof ApiError ? err : internalError((err as Error)?.message ?? String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, api.code, api.toStatus());
}

function notFoundPath(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

function resourceRoute(ctx: ServerContext, group: string, version: string, rest: string[]): ResourceRoute | undefined {
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest.length <= 5) {
    const rt = ctx.registry.find(group, version, rest[2]!);
    if (rt?.namespaced) return { rt, namespace: rest[1]!, name: rest[3], subresource: rest[4] };
  }
  const rt = ctx.registry.find(group, version, rest[0] ?? '');
  if (!rt || rest.length > 3) return undefined;
  if (rt.namespaced && rest.length > 1) return undefined;
  return { rt, name: rest[1], subresource: rest[2] };
}

/** Maps a path to a discovery document, a resource, or nothing (404). */
export function parseRoute(ctx: ServerContext, pathname: string): Route | undefined {
  const seg = pathname.split('/').filter((s) => s.length > 0).map(decodeURIComponent);
  const doc = (d: Record<string, unknown> | undefined) => (d ? { discovery: d } : undefined);
  if (seg.length === 1 && ['healthz', 'readyz', 'livez'].includes(seg[0]!)) return { text: 'ok' };
  if (seg.length === 1 && seg[0] === 'version') return { discovery: versionInfo() };
  if (seg[0] === 'api') {
    if (seg.length === 1) return { discovery: coreVersions(ctx.serverAddress) };
    if (seg[1] !== 'v1') return undefined;
    if (seg.length === 2) return doc(resourceList(ctx.registry, '', 'v1'));
    const r = resourceRoute(ctx, '', 'v1', seg.slice(2));
    return r && { resource: r };
  }
  if (seg[0] !== 'apis') return undefined;
  if (seg.length === 1) return { discovery: groupList(ctx.registry) };
  if (seg.length === 2) return doc(groupDoc(ctx.registry, seg[1]!));
  if (seg.length === 3) return doc(resourceList(ctx.registry, seg[1]!, seg[2]!));
  const r = resourceRoute(ctx, seg[1]!, seg[2]!, seg.slice(3));
  return r && { resource: r };
}

export function authenticate(ctx: ServerContext, req: IncomingMessage): UserInfo {
  const user = ctx.authn.authenticate(req.headers.authorization);
  if (!user) throw unauthorized();
  return user;
}

export function createRequestHandler(ctx: ServerContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(ctx, req, res).catch((err: unknown) => sendError(res, err));
  };
}

async function route(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://fake-cluster.invalid');
  const user = authenticate(ctx, req);
  const r = parseRoute(ctx, url.pathname);
  if (!r) throw notFoundPath();
  if ('text' in r) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(r.text);
    return;
  }
  if ('discovery' in r) {
    if (req.method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    sendJson(res, 200, r.discovery);
    return;
  }
  await handleResource(ctx, { req, res, url, user, route: r.resource });
}
