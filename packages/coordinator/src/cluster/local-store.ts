/**
 * The object store behind standalone mode: every object in memory, each one also a JSON
 * file under the state directory (written to a temporary name and renamed, so a crash
 * leaves the old or the new version, never half of one). It keeps the API server's
 * semantics the controllers rely on: resourceVersion checks (409), idempotent names,
 * finalizers that hold a deletion, owner references that cascade, generation on spec change.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { ObjectMeta } from './cluster-state.js';
import { parseLabelSelector } from './label-selector.js';

/** Anything with metadata: Ferry resources, pods, claims, volumes, Secrets. */
export interface StoredObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

export type StoreChange = 'add' | 'update' | 'delete';

/** An API-server-like failure: `code` is the HTTP status the controllers test for (404, 409, 422). */
export class LocalApiError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = 'LocalApiError';
  }
}

export interface LocalObjectStoreOptions {
  /** Where objects are persisted (`<dir>/<kind>/<namespace>/<name>.json`). */
  readonly dir: string;
  readonly clock: Clock;
  /** Kinds without a namespace (stored under `_cluster`). */
  readonly clusterScoped: ReadonlySet<string>;
  readonly onChange: (kind: string, change: StoreChange, obj: StoredObject) => void;
}

const CLUSTER = '_cluster';

export class LocalObjectStore {
  private readonly objects = new Map<string, StoredObject>();
  private version = 0;

  constructor(private readonly o: LocalObjectStoreOptions) {}

  /** Reads what earlier runs persisted. */
  load(): void {
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    for (const kind of readdirSync(this.o.dir)) {
      for (const ns of readdirSync(join(this.o.dir, kind))) {
        for (const file of readdirSync(join(this.o.dir, kind, ns)).filter((f) => f.endsWith('.json'))) {
          const obj = JSON.parse(readFileSync(join(this.o.dir, kind, ns, file), 'utf8')) as StoredObject;
          this.objects.set(this.key(kind, obj.metadata.namespace ?? '', obj.metadata.name ?? ''), obj);
          this.version = Math.max(this.version, Number(obj.metadata.resourceVersion ?? 0));
        }
      }
    }
  }

  get(kind: string, namespace: string, name: string): StoredObject | undefined {
    const obj = this.objects.get(this.key(kind, namespace, name));
    return obj ? structuredClone(obj) : undefined;
  }

  list(kind: string, namespace?: string, labelSelector?: string): StoredObject[] {
    const matches = labelSelector ? parseLabelSelector(labelSelector) : () => true;
    const out: StoredObject[] = [];
    for (const [key, obj] of this.objects) {
      if (!key.startsWith(`${kind}/`)) continue;
      if (namespace !== undefined && namespace !== '' && !this.o.clusterScoped.has(kind) && obj.metadata.namespace !== namespace) continue;
      if (matches(obj.metadata.labels ?? {})) out.push(structuredClone(obj));
    }
    return out.sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
  }

  create(kind: string, body: StoredObject): StoredObject {
    const name = body.metadata.name ?? '';
    const namespace = this.o.clusterScoped.has(kind) ? '' : body.metadata.namespace ?? '';
    if (!name) throw new LocalApiError(422, `${kind}: metadata.name is required`);
    if (this.objects.has(this.key(kind, namespace, name))) throw new LocalApiError(409, `${kind} ${namespace ? `${namespace}/` : ''}${name} already exists`);
    const obj: StoredObject = structuredClone(body);
    obj.kind = kind;
    obj.metadata = {
      ...obj.metadata,
      name,
      ...(namespace ? { namespace } : {}),
      uid: obj.metadata.uid ?? randomUUID(),
      creationTimestamp: new Date(this.o.clock.now()).toISOString(),
      generation: 1,
    };
    delete obj.metadata.deletionTimestamp;
    return this.put(kind, obj, 'add');
  }

  /** Replaces status iff the stored object still has `resourceVersion`. */
  replaceStatus(kind: string, namespace: string, name: string, resourceVersion: string | undefined, status: unknown): StoredObject {
    const current = this.mustGet(kind, namespace, name);
    if (resourceVersion !== undefined && current.metadata.resourceVersion !== resourceVersion) {
      throw new LocalApiError(409, `${kind} ${namespace}/${name} was modified (resourceVersion ${current.metadata.resourceVersion}, not ${resourceVersion}); read it again`);
    }
    return this.put(kind, { ...current, status }, 'update');
  }

  /** A JSON merge patch (RFC 7386) of metadata and spec; status is the status writer's. */
  mergePatch(kind: string, namespace: string, name: string, patch: Record<string, unknown>): StoredObject {
    const current = this.mustGet(kind, namespace, name);
    const { status: _ignored, ...rest } = patch;
    const next = mergeJson(current, rest) as StoredObject;
    next.metadata = { ...next.metadata, name: current.metadata.name, namespace: current.metadata.namespace, uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp };
    if (JSON.stringify(next.spec) !== JSON.stringify(current.spec)) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      this.remove(kind, next);
      return next;
    }
    return this.put(kind, next, 'update');
  }

  /** Marks the object deleted while finalizers remain; removes it (and cascades) otherwise. */
  delete(kind: string, namespace: string, name: string): void {
    const current = this.get(kind, namespace, name);
    if (!current) return;
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (!current.metadata.deletionTimestamp) this.put(kind, { ...current, metadata: { ...current.metadata, deletionTimestamp: new Date(this.o.clock.now()).toISOString() } }, 'update');
      return;
    }
    this.remove(kind, current);
  }

  private remove(kind: string, obj: StoredObject): void {
    const namespace = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    this.objects.delete(this.key(kind, namespace, name));
    rmSync(this.file(kind, namespace, name), { force: true });
    this.o.onChange(kind, 'delete', obj);
    this.collectDependents(obj.metadata.uid ?? '');
  }

  /** Background cascading deletion, as the garbage collector does for owner references. */
  private collectDependents(ownerUid: string): void {
    if (!ownerUid) return;
    for (const [key, dependent] of [...this.objects]) {
      if (!(dependent.metadata.ownerReferences ?? []).some((r) => r.uid === ownerUid)) continue;
      this.delete(key.split('/')[0] ?? '', dependent.metadata.namespace ?? '', dependent.metadata.name ?? '');
    }
  }

  private mustGet(kind: string, namespace: string, name: string): StoredObject {
    const found = this.get(kind, namespace, name);
    if (!found) throw new LocalApiError(404, `${kind} ${namespace ? `${namespace}/` : ''}${name} not found`);
    return found;
  }

  private put(kind: string, obj: StoredObject, change: StoreChange): StoredObject {
    this.version += 1;
    obj.metadata.resourceVersion = String(this.version);
    const namespace = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    const dir = join(this.o.dir, kind, namespace || CLUSTER);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = this.file(kind, namespace, name);
    // Secrets hold keys and credentials: owner-only, like the kubelet's tmpfs secret volumes.
    writeFileSync(`${file}.tmp`, JSON.stringify(obj, null, 1), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    this.objects.set(this.key(kind, namespace, name), obj);
    this.o.onChange(kind, change, structuredClone(obj));
    return structuredClone(obj);
  }

  private key(kind: string, namespace: string, name: string): string {
    return `${kind}/${this.o.clusterScoped.has(kind) ? '' : namespace}/${name}`;
  }

  private file(kind: string, namespace: string, name: string): string {
    return join(this.o.dir, kind, (this.o.clusterScoped.has(kind) ? '' : namespace) || CLUSTER, `${name}.json`);
  }
}

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function mergeJson(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const base: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete base[k];
    else base[k] = mergeJson(base[k], v);
  }
  return base;
}
