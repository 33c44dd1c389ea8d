/**
 * FAKE Kubernetes API server (test support, never shipped): the object store. One global
 * resourceVersion counter, uid/creationTimestamp/generation bookkeeping, optimistic
 * concurrency (409 on a stale resourceVersion), the status subresource split, finalizers and
 * deletionTimestamp, graceful pod deletion, and an event per write for watches.
 * Objects are never mutated in place once stored: every write stores a fresh copy.
 */
import { randomUUID } from 'node:crypto';
import { alreadyExists, badRequest, conflict, forbidden, invalid, notFound } from './errors.js';
import type { StatusCause } from './errors.js';
import { clone, deepEqual } from './json-patch.js';
import { apiVersionOf, resourceKey } from './resources.js';
import type { ResourceType } from './resources.js';
import type { EventHistory, EventType } from './watch.js';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface Meta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  [k: string]: unknown;
}

export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  [k: string]: unknown;
}

export interface Clock {
  now(): Date;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface DeleteResult {
  object: Obj;
  /** False when finalizers or a grace period keep the object around with a deletionTimestamp. */
  removed: boolean;
}

export type RemovedListener = (rt: ResourceType, obj: Obj, policy: DeleteOptions['propagationPolicy']) => void;

export interface StoreOptions {
  clock: Clock;
  history: EventHistory;
  /** Bound pods get a deletionTimestamp and wait for their kubelet, as in a real cluster. */
  gracefulPodDeletion: boolean;
  namespaceType: ResourceType;
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function nameProblem(rt: ResourceType, name: string): StatusCause | undefined {
  const [re, max, msg] = rt.nameRule === 'label' ? [LABEL, 63, LABEL_MSG] : [SUBDOMAIN, 253, SUBDOMAIN_MSG];
  if (re.test(name) && name.length <= max) return undefined;
  const why = name.length > max ? `must be no more than ${max} characters` : msg;
  return { reason: 'FieldValueInvalid', message: `Invalid value: "${name}": ${why}`, field: 'metadata.name' };
}

function generateName(prefix: string): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
  return prefix + suffix;
}

/** Everything but metadata and status: what bumps metadata.generation. */
function specOf(o: Obj): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

function withoutRv(o: Obj): Obj {
  return { ...o, metadata: { ...o.metadata, resourceVersion: undefined } };
}

export class Store {
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly byUid = new Map<string, { rt: ResourceType; key: string }>();
  private readonly removedListeners: RemovedListener[] = [];
  private rv = 1;

  constructor(private readonly opts: StoreOptions) {}

  currentRv(): number {
    return this.rv;
  }

  onRemoved(l: RemovedListener): void {
    this.removedListeners.push(l);
  }

  get(rt: ResourceType, ns: string, name: string): Obj {
    const o = this.tryGet(rt, ns, name);
    if (!o) throw notFound(rt, name);
    return o;
  }

  tryGet(rt: ResourceType, ns: string, name: string): Obj | undefined {
    return this.table(rt).get(objectKey(rt, ns, name));
  }

  byUidLookup(uid: string): { rt: ResourceType; obj: Obj } | undefined {
    const at = this.byUid.get(uid);
    const obj = at && this.table(at.rt).get(at.key);
    return at && obj ? { rt: at.rt, obj } : undefined;
  }

  /** Objects of one type in etcd key order, optionally in one namespace. */
  list(rt: ResourceType, ns?: string): Obj[] {
    const out = [...this.table(rt).entries()].filter(([, o]) => ns === undefined || !rt.namespaced || o.metadata.namespace === ns);
    return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
  }

  allObjects(): { rt: ResourceType; obj: Obj }[] {
    return [...this.byUid.values()].map(({ rt, key }) => ({ rt, obj: this.table(rt).get(key)! })).filter((x) => x.obj);
  }

  create(rt: ResourceType, ns: string, body: Obj): Obj {
    const name = this.resolveName(rt, body);
    if (rt.namespaced) this.checkNamespaceOpen(ns);
    const table = this.table(rt);
    const key = objectKey(rt, ns, name);
    if (table.has(key)) throw alreadyExists(rt, name);
    const obj = this.freshObject(rt, ns, name, body);
    return this.commit(rt, key, obj, 'ADDED');
  }

  /** PUT: a full replacement, or only status when `subresource` is 'status'. */
  update(rt: ResourceType, ns: string, name: string, body: Obj, subresource?: 'status'): Obj {
    const cur = this.get(rt, ns, name);
    if (body.metadata?.name !== undefined && body.metadata.name !== name) {
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    const rv = body.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== cur.metadata.resourceVersion) throw conflict(rt, name);
    const next = subresource === 'status' ? { ...clone(cur), status: clone(body.status) } : this.keepSystemFields(rt, cur, body);
    if (subresource === 'status' && body.status === undefined) delete next.status;
    return this.commitUpdate(rt, cur, next);
  }

  /** PATCH: `patchFn` gets a copy of the stored object and returns the patched one. */
  patch(rt: ResourceType, ns: string, name: string, patchFn: (cur: Obj) => Obj, subresource?: 'status'): Obj {
    const cur = this.get(rt, ns, name);
    const patched = patchFn(clone(cur));
    const body: Obj = { ...patched, metadata: { ...(patched.metadata ?? {}), name } };
    return this.update(rt, ns, name, body, subresource);
  }

  /** A server-side write that may touch spec and status at once (pod binding). */
  mutate(rt: ResourceType, ns: string, name: string, fn: (cur: Obj) => Obj): Obj {
    const cur = this.get(rt, ns, name);
    return this.commitUpdate(rt, cur, fn(clone(cur)));
  }

  delete(rt: ResourceType, ns: string, name: string, opts: DeleteOptions = {}): DeleteResult {
    const cur = this.get(rt, ns, name);
    this.checkPreconditions(rt, cur, opts);
    const grace = this.podGrace(rt, cur, opts);
    const finalizers = cur.metadata.finalizers ?? [];
    if (cur.metadata.deletionTimestamp && grace === 0 && finalizers.length > 0 && (cur.metadata.deletionGracePeriodSeconds ?? 0) > 0) {
      return { object: this.markDeleting(rt, cur, 0), removed: false };
    }
    if (cur.metadata.deletionTimestamp && (grace > 0 || finalizers.length > 0 || rt.plural === 'namespaces')) {
      return { object: cur, removed: false };
    }
    if (grace > 0 || finalizers.length > 0 || rt.plural === 'namespaces') {
      return { object: this.markDeleting(rt, cur, grace), removed: false };
    }
    return { object: this.removeNow(rt, cur, opts.propagationPolicy), removed: true };
  }

  /** Takes an object out for good (last finalizer gone, namespace emptied, grace over). */
  removeNow(rt: ResourceType, cur: Obj, policy?: DeleteOptions['propagationPolicy']): Obj {
    const key = objectKey(rt, cur.metadata.namespace ?? '', cur.metadata.name!);
    this.table(rt).delete(key);
    this.byUid.delete(cur.metadata.uid!);
    this.rv++;
    const gone: Obj = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(this.rv) } };
    this.opts.history.record({ rv: this.rv, type: 'DELETED', resource: resourceKey(rt), object: gone });
    for (const l of this.removedListeners) l(rt, gone, policy);
    return gone;
  }

  private table(rt: ResourceType): Map<string, Obj> {
    const k = resourceKey(rt);
    let t = this.objects.get(k);
    if (!t) this.objects.set(k, (t = new Map()));
    return t;
  }

  private resolveName(rt: ResourceType, body: Obj): string {
    const given = body.metadata?.name;
    const prefix = body.metadata?.generateName;
    const name = given || (prefix ? generateName(prefix) : '');
    if (!name) {
      throw invalid(rt, '', [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }]);
    }
    const problem = nameProblem(rt, name);
    if (problem) throw invalid(rt, name, [problem]);
    return name;
  }

  private checkNamespaceOpen(ns: string): void {
    const nsObj = this.tryGet(this.opts.namespaceType, '', ns);
    if (!nsObj) throw notFound(this.opts.namespaceType, ns);
    if (nsObj.metadata.deletionTimestamp) {
      throw forbidden(`unable to create new content in namespace ${ns} because it is being terminated`);
    }
  }

  private freshObject(rt: ResourceType, ns: string, name: string, body: Obj): Obj {
    const obj = clone(body);
    const { deletionTimestamp: _d, deletionGracePeriodSeconds: _g, resourceVersion: _r, ...meta } = obj.metadata ?? {};
    obj.apiVersion = apiVersionOf(rt);
    obj.kind = rt.kind;
    const { namespace: _n, generation: _gen, ...rest } = meta;
    obj.metadata = { ...rest, name, uid: randomUUID(), creationTimestamp: timestamp(this.opts.clock.now()) };
    if (rt.namespaced) obj.metadata.namespace = ns;
    if (this.tracksGeneration(rt)) obj.metadata.generation = 1;
    if (rt.statusSubresource) {
      if (rt.initialStatus) obj.status = clone(rt.initialStatus);
      else delete obj.status;
    }
    return obj;
  }

  private tracksGeneration(rt: ResourceType): boolean {
    return rt.statusSubresource;
  }

  private keepSystemFields(rt: ResourceType, cur: Obj, body: Obj): Obj {
    const next = clone(body);
    const m = cur.metadata;
    next.apiVersion = apiVersionOf(rt);
    next.kind = rt.kind;
    next.metadata = { ...next.metadata, name: m.name, namespace: m.namespace, uid: m.uid, creationTimestamp: m.creationTimestamp };
    for (const k of ['namespace', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
      if (m[k] === undefined) delete next.metadata[k];
      else (next.metadata as Record<string, unknown>)[k] = m[k];
    }
    if (rt.statusSubresource) {
      if (cur.status === undefined) delete next.status;
      else next.status = clone(cur.status);
    }
    return next;
  }

  private commitUpdate(rt: ResourceType, cur: Obj, next: Obj): Obj {
    this.checkFinalizersWhileDeleting(rt, cur, next);
    if (deepEqual(withoutRv(next), withoutRv(cur))) return cur;
    if (this.tracksGeneration(rt) && !deepEqual(specOf(next), specOf(cur))) {
      next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
    }
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0 && this.finalizable(rt, next)) {
      return this.removeNow(rt, next);
    }
    const key = objectKey(rt, cur.metadata.namespace ?? '', cur.metadata.name!);
    return this.commit(rt, key, next, 'MODIFIED', cur);
  }

  /** A pod in its grace period and a terminating namespace go away by other paths. */
  private finalizable(rt: ResourceType, o: Obj): boolean {
    if (rt.plural === 'namespaces' && !rt.group) return false;
    return !(rt.plural === 'pods' && !rt.group && (o.metadata.deletionGracePeriodSeconds ?? 0) > 0);
  }

  private checkFinalizersWhileDeleting(rt: ResourceType, cur: Obj, next: Obj): void {
    if (!cur.metadata.deletionTimestamp) return;
    const before = new Set(cur.metadata.finalizers ?? []);
    const added = (next.metadata.finalizers ?? []).filter((f) => !before.has(f));
    if (added.length > 0) {
      throw invalid(rt, cur.metadata.name!, [{ reason: 'FieldValueForbidden', message: 'Forbidden: no new finalizers can be added if the object is being deleted', field: 'metadata.finalizers' }]);
    }
  }

  private checkPreconditions(rt: ResourceType, cur: Obj, opts: DeleteOptions): void {
    const p = opts.preconditions;
    if (p?.uid && p.uid !== cur.metadata.uid) {
      throw conflict(rt, cur.metadata.name!, `Precondition failed: UID in precondition: ${p.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (p?.resourceVersion && p.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflict(rt, cur.metadata.name!, `Precondition failed: ResourceVersion in precondition: ${p.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
    }
  }

  /** Seconds a pod may take to stop: only bound, non-terminal pods get one. */
  private podGrace(rt: ResourceType, cur: Obj, opts: DeleteOptions): number {
    if (rt.group || rt.plural !== 'pods' || !this.opts.gracefulPodDeletion) return 0;
    const spec = (cur.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
    const phase = (cur.status as { phase?: string } | undefined)?.phase;
    if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    return opts.gracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
  }

  private markDeleting(rt: ResourceType, cur: Obj, grace: number): Obj {
    const next = clone(cur);
    const at = new Date(this.opts.clock.now().getTime() + grace * 1000);
    next.metadata.deletionTimestamp = timestamp(at);
    next.metadata.deletionGracePeriodSeconds = grace;
    if (this.tracksGeneration(rt)) next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
    if (rt.plural === 'namespaces' && !rt.group) next.status = { ...(next.status as object), phase: 'Terminating' };
    const key = objectKey(rt, cur.metadata.namespace ?? '', cur.metadata.name!);
    return this.commit(rt, key, next, 'MODIFIED', cur);
  }

  private commit(rt: ResourceType, key: string, obj: Obj, type: EventType, prev?: Obj): Obj {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    this.table(rt).set(key, obj);
    this.byUid.set(obj.metadata.uid!, { rt, key });
    this.opts.history.record({ rv: this.rv, type, resource: resourceKey(rt), object: obj, ...(prev ? { prev } : {}) });
    return obj;
  }
}

export function objectKey(rt: ResourceType, ns: string, name: string): string {
  return rt.namespaced ? `${ns}/${name}` : name;
}
