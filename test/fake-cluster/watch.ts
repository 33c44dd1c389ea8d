/**
 * FAKE Kubernetes API server (test support, never shipped): the event history behind
 * watches. Every write gets the next global resourceVersion and one event here. Only the
 * newest `historyLimit` events are retained, like the watch cache's window: a watch from an
 * older resourceVersion gets an ERROR event carrying a 410 Expired Status, exactly what
 * makes client-go and client-node informers relist. `compact()` drops the whole window.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gone } from './errors.js';
import type { ApiError } from './errors.js';
import type { ResourceType } from './resources.js';
import { resourceKey } from './resources.js';
import type { Obj } from './store.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  type: EventType;
  resource: string;
  object: Obj;
  /** The object before a MODIFIED, so selector watches can turn it into ADDED/DELETED. */
  prev?: Obj;
}

type Listener = (ev: StoredEvent) => void;

export class EventHistory {
  private events: StoredEvent[] = [];
  private droppedThrough = 0;
  private readonly listeners = new Set<Listener>();

  constructor(private historyLimit: number) {}

  record(ev: StoredEvent): void {
    this.events.push(ev);
    if (this.events.length > this.historyLimit) this.dropOldest(this.events.length - this.historyLimit);
    for (const l of [...this.listeners]) l(ev);
  }

  /** Forgets every retained event: a watch from any resourceVersion older than now gets 410. */
  compact(currentRv: number): void {
    this.events = [];
    this.droppedThrough = currentRv;
  }

  setLimit(limit: number): void {
    this.historyLimit = limit;
    if (this.events.length > limit) this.dropOldest(this.events.length - limit);
  }

  /** Whether a list taken at `rv` can still be continued or watched from. */
  isRetained(rv: number): boolean {
    return rv >= this.droppedThrough;
  }

  /** Events after `rv` for one resource, or 410 when some of them were already dropped. */
  since(rv: number, rt: ResourceType, currentRv: number): StoredEvent[] {
    if (!this.isRetained(rv)) throw gone(`too old resource version: ${rv} (${currentRv})`);
    const key = resourceKey(rt);
    return this.events.filter((e) => e.rv > rv && e.resource === key);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private dropOldest(n: number): void {
    const dropped = this.events.splice(0, n);
    this.droppedThrough = dropped[dropped.length - 1]?.rv ?? this.droppedThrough;
  }
}

export interface WatchRequest {
  rt: ResourceType;
  /** Undefined for all namespaces / cluster-scoped. */
  namespace: string | undefined;
  matches: (obj: Obj) => boolean;
  resourceVersion: string | null;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
}

export interface WatchServices {
  history: EventHistory;
  currentRv: () => number;
  listNow: (rt: ResourceType, namespace: string | undefined) => Obj[];
  bookmarkIntervalMs: number;
  /** Open watch responses, so the server can end them on stop(). */
  open: Set<ServerResponse>;
}

/** What a watcher should see for one stored event, given its filter (or nothing). */
function translate(ev: StoredEvent, w: WatchRequest): { type: EventType; object: Obj } | undefined {
  if (w.namespace !== undefined && w.rt.namespaced && ev.object.metadata.namespace !== w.namespace) return undefined;
  const now = w.matches(ev.object);
  if (ev.type !== 'MODIFIED') return now ? { type: ev.type, object: ev.object } : undefined;
  const before = ev.prev ? w.matches(ev.prev) : false;
  if (now && before) return { type: 'MODIFIED', object: ev.object };
  if (now) return { type: 'ADDED', object: ev.object };
  return before ? { type: 'DELETED', object: ev.object } : undefined;
}

function writeEvent(res: ServerResponse, type: string, object: unknown): void {
  res.write(JSON.stringify({ type, object }) + '\n');
}

function bookmark(w: WatchRequest, rv: number, initialEnd = false): Record<string, unknown> {
  const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
  if (initialEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
  return { kind: w.rt.kind, apiVersion: w.rt.group ? `${w.rt.group}/${w.rt.version}` : w.rt.version, metadata };
}

/** Streams a watch as JSON lines until the client leaves, the timeout passes or the server stops. */
export function serveWatch(req: IncomingMessage, res: ServerResponse, w: WatchRequest, s: WatchServices): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const rv = w.resourceVersion;
  const fromNow = rv === null || rv === '' || rv === '0';
  let backlog: StoredEvent[] = [];
  if (!fromNow) {
    try {
      backlog = s.history.since(Number(rv), w.rt, s.currentRv());
    } catch (err) {
      writeEvent(res, 'ERROR', (err as ApiError).toStatus());
      res.end();
      return;
    }
  }
  const send = (ev: StoredEvent) => {
    const out = translate(ev, w);
    if (out) writeEvent(res, out.type, out.object);
  };
  const unsubscribe = s.history.subscribe((ev) => ev.resource === resourceKey(w.rt) && send(ev));
  if (fromNow) for (const o of s.listNow(w.rt, w.namespace).filter(w.matches)) writeEvent(res, 'ADDED', o);
  if (fromNow && w.sendInitialEvents && w.allowBookmarks) writeEvent(res, 'BOOKMARK', bookmark(w, s.currentRv(), true));
  for (const ev of backlog) send(ev);
  const timers = [
    w.allowBookmarks ? setInterval(() => writeEvent(res, 'BOOKMARK', bookmark(w, s.currentRv())), s.bookmarkIntervalMs) : undefined,
    w.timeoutSeconds ? setTimeout(() => res.end(), w.timeoutSeconds * 1000) : undefined,
  ];
  s.open.add(res);
  const cleanup = () => {
    unsubscribe();
    for (const t of timers) if (t) clearInterval(t);
    s.open.delete(res);
  };
  res.on('close', cleanup);
  req.on('close', cleanup);
}
