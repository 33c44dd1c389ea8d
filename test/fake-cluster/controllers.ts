/**
 * FAKE Kubernetes API server (test support, never shipped): the few controllers the fake
 * runs itself, because controllers under test depend on them. Garbage collection
 * (background and orphan propagation; foreground is treated as background), the namespace
 * lifecycle (a deleted namespace is Terminating until everything in it is gone), and the
 * `default` ServiceAccount in every new namespace. They act asynchronously, as in a cluster.
 */
import { ApiError } from './errors.js';
import { resourceKey } from './resources.js';
import type { ResourceRegistry, ResourceType } from './resources.js';
import type { DeleteOptions, Meta, Obj, Store } from './store.js';
import type { EventHistory } from './watch.js';

export interface ControllersOptions {
  store: Store;
  registry: ResourceRegistry;
  history: EventHistory;
  namespaceType: ResourceType;
  serviceAccountType: ResourceType;
}

/** Ignores NotFound/Conflict: the object moved on under us, the next pass sees it. */
function tolerant(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ApiError) || (err.code !== 404 && err.code !== 409)) throw err;
  }
}

export class ClusterControllers {
  private sweepQueued = false;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly o: ControllersOptions) {
    o.store.onRemoved((_rt, obj, policy) => this.later(() => this.collectDependents(obj, policy)));
    this.unsubscribe = o.history.subscribe((ev) => {
      if (ev.type === 'ADDED' && ev.resource === resourceKey(o.namespaceType)) this.later(() => this.ensureDefaultServiceAccount(ev.object));
      this.queueNamespaceSweep();
    });
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  private later(fn: () => void): void {
    setImmediate(() => {
      if (!this.stopped) tolerant(fn);
    });
  }

  private collectDependents(owner: Obj, policy: DeleteOptions['propagationPolicy']): void {
    const uid = owner.metadata.uid;
    for (const { rt, obj } of this.o.store.allObjects()) {
      const refs = obj.metadata.ownerReferences ?? [];
      if (!refs.some((r) => r.uid === uid)) continue;
      const others = refs.filter((r) => r.uid !== uid);
      const ownedElsewhere = others.some((r) => this.o.store.byUidLookup(r.uid));
      if (policy === 'Orphan' || ownedElsewhere) tolerant(() => this.dropOwnerRef(rt, obj, others));
      else tolerant(() => this.o.store.delete(rt, obj.metadata.namespace ?? '', obj.metadata.name!, { propagationPolicy: 'Background' }));
    }
  }

  private dropOwnerRef(rt: ResourceType, obj: Obj, remaining: NonNullable<Obj['metadata']['ownerReferences']>): void {
    this.o.store.patch(rt, obj.metadata.namespace ?? '', obj.metadata.name!, (cur) => {
      const meta: Meta = { ...cur.metadata, ownerReferences: remaining };
      if (remaining.length === 0) delete meta.ownerReferences;
      return { ...cur, metadata: meta };
    });
  }

  private ensureDefaultServiceAccount(ns: Obj): void {
    const name = ns.metadata.name!;
    const live = this.o.store.tryGet(this.o.namespaceType, '', name);
    if (!live || live.metadata.deletionTimestamp) return;
    if (this.o.store.tryGet(this.o.serviceAccountType, name, 'default')) return;
    this.o.store.create(this.o.serviceAccountType, name, { metadata: { name: 'default' } });
  }

  private queueNamespaceSweep(): void {
    if (this.sweepQueued) return;
    this.sweepQueued = true;
    this.later(() => {
      this.sweepQueued = false;
      this.sweepTerminatingNamespaces();
    });
  }

  private sweepTerminatingNamespaces(): void {
    for (const ns of this.o.store.list(this.o.namespaceType)) {
      if (!ns.metadata.deletionTimestamp) continue;
      const remaining = this.deleteContents(ns.metadata.name!);
      if (remaining === 0 && (ns.metadata.finalizers ?? []).length === 0) this.o.store.removeNow(this.o.namespaceType, ns);
    }
  }

  /** Deletes what is left in a terminating namespace; returns how many objects still exist. */
  private deleteContents(ns: string): number {
    let remaining = 0;
    for (const rt of this.o.registry.all()) {
      if (!rt.namespaced || rt.createOnly) continue;
      for (const obj of this.o.store.list(rt, ns)) {
        remaining++;
        if (!obj.metadata.deletionTimestamp) tolerant(() => this.o.store.delete(rt, ns, obj.metadata.name!));
      }
    }
    return remaining;
  }
}
