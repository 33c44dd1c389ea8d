/**
 * Session markers and the prune lock (docs/repository-format.md §10): small sealed
 * records with a heartbeat, so that a dead writer's marker simply goes stale instead of
 * blocking anyone.
 */
import { randomBytes } from 'node:crypto';
import { currentHost } from './host.js';
import { getIfExists, isBlobStoreError, type BlobStore } from '@ferry/blobstore';
import { open, seal } from './crypto.js';

export const SESSION_PREFIX = 'sessions/';
export const PRUNE_LOCK_KEY = 'prune/lock';
export const HEARTBEAT_MS = 60_000;
export const DEFAULT_STALE_AFTER_MS = 15 * 60_000;

const SESSION_AAD = Buffer.from('ferry-session-v1');
const LOCK_AAD = Buffer.from('ferry-prune-lock-v1');

export interface SessionRecord {
  readonly v: 1;
  readonly kind: 'backup' | 'prune';
  readonly host: string;
  readonly pid: number;
  readonly started: number;
  readonly heartbeat: number;
}

export interface MarkerOptions {
  readonly store: BlobStore;
  readonly objectKey: Buffer;
  readonly clock: { now(): number };
}

export function isStale(record: SessionRecord, now: number, staleAfterMs = DEFAULT_STALE_AFTER_MS): boolean {
  return now - record.heartbeat > staleAfterMs;
}

function encode(objectKey: Buffer, aad: Buffer, record: SessionRecord): Buffer {
  return seal(objectKey, aad, [Buffer.from(JSON.stringify(record))]);
}

function decode(objectKey: Buffer, aad: Buffer, sealed: Buffer): SessionRecord | undefined {
  const plain = open(objectKey, aad, sealed);
  if (!plain) return undefined;
  try {
    const r = JSON.parse(plain.toString('utf8')) as SessionRecord;
    return r.v === 1 && typeof r.started === 'number' && typeof r.heartbeat === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** A heartbeating record at `key`; `release()` deletes it. */
export class Marker {
  private timer: NodeJS.Timeout | undefined;
  private record: SessionRecord;

  private constructor(
    private readonly o: MarkerOptions,
    readonly key: string,
    private readonly aad: Buffer,
    kind: SessionRecord['kind'],
  ) {
    const now = o.clock.now();
    this.record = { v: 1, kind, host: currentHost(), pid: process.pid, started: now, heartbeat: now };
  }

  /** Writes a backup's session marker; call before reading prune marks. */
  static async startSession(o: MarkerOptions): Promise<Marker> {
    const m = new Marker(o, SESSION_PREFIX + randomBytes(16).toString('hex'), SESSION_AAD, 'backup');
    await o.store.put(m.key, encode(o.objectKey, m.aad, m.record));
    m.startHeartbeat();
    return m;
  }

  /**
   * Takes the prune lock, breaking it if its holder stopped heartbeating. Returns
   * undefined with the holder's record when another live prune holds it.
   */
  static async lockPrune(o: MarkerOptions, staleAfterMs: number): Promise<Marker | { heldBy: SessionRecord }> {
    const m = new Marker(o, PRUNE_LOCK_KEY, LOCK_AAD, 'prune');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await o.store.put(m.key, encode(o.objectKey, m.aad, m.record), { ifNotExists: true });
        m.startHeartbeat();
        return m;
      } catch (err) {
        if (!isBlobStoreError(err, 'AlreadyExists')) throw err;
      }
      const held = await readRecord(o, PRUNE_LOCK_KEY, LOCK_AAD);
      if (held && !isStale(held, o.clock.now(), staleAfterMs)) return { heldBy: held };
      await o.store.delete(PRUNE_LOCK_KEY);
    }
    const held = await readRecord(o, PRUNE_LOCK_KEY, LOCK_AAD);
    return { heldBy: held ?? m.record };
  }

  get started(): number {
    return this.record.started;
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.o.store.delete(this.key);
  }

  private startHeartbeat(): void {
    this.timer = setInterval(() => {
      this.record = { ...this.record, heartbeat: this.o.clock.now() };
      this.o.store.put(this.key, encode(this.o.objectKey, this.aad, this.record)).catch(() => undefined);
    }, HEARTBEAT_MS);
    this.timer.unref();
  }
}

async function readRecord(o: MarkerOptions, key: string, aad: Buffer): Promise<SessionRecord | undefined> {
  const sealed = await getIfExists(o.store, key);
  return sealed && decode(o.objectKey, aad, sealed);
}

export interface ListedSession {
  readonly key: string;
  /** Undefined when the marker cannot be read (damaged, or written with another key). */
  readonly record: SessionRecord | undefined;
}

export async function listSessions(o: MarkerOptions, signal?: AbortSignal): Promise<ListedSession[]> {
  const out: ListedSession[] = [];
  for await (const entry of o.store.list(SESSION_PREFIX, { signal })) {
    const sealed = await getIfExists(o.store, entry.key, { signal });
    // A marker deleted since the listing belongs to a writer that has finished.
    if (sealed) out.push({ key: entry.key, record: decode(o.objectKey, SESSION_AAD, sealed) });
  }
  return out;
}
