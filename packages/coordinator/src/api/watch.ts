/**
 * Watch streams: send the object now, then again whenever it (or one of its per-volume
 * children) changes, until it reaches a terminal phase (the stream ends with OK), is
 * deleted (NOT_FOUND), or the client goes away. Changes come from the leader's change feed;
 * a periodic re-read covers an event missed across a relist. Every wait is tied to the
 * stream's AbortSignal, so a cancelled client leaves no listener or timer behind.
 */
import { isTerminalPhase } from '@ferry/api';
import type { ClusterEvent } from '../cluster/cluster-state.js';
import { CoordinatorError, isCoordinatorError } from '../errors.js';
import type { ApiContext, StreamSink } from './rpc.js';

export interface WatchTarget<M extends { phase?: string }> {
  /** e.g. "Backup team-a/nightly", for messages. */
  readonly what: string;
  /** The message now; undefined when the object does not exist. */
  read(): Promise<M | undefined>;
  /** Does this cluster change concern the watched object? */
  concerns(e: ClusterEvent): boolean;
}

export async function watchObject<M extends { phase?: string }>(ctx: ApiContext, target: WatchTarget<M>, sink: StreamSink<M>): Promise<void> {
  let changed = false;
  let wake: AbortController | undefined;
  const unsubscribe = ctx.changes.subscribe((e) => {
    if (!target.concerns(e)) return;
    changed = true;
    wake?.abort();
  });
  try {
    let last = '';
    let seen = false;
    while (!sink.signal.aborted) {
      changed = false;
      const message = await target.read();
      if (!message) throw new CoordinatorError('NotFound', seen ? `${target.what} was deleted` : `${target.what} not found`);
      seen = true;
      const text = JSON.stringify(message);
      if (text !== last) sink.write(message);
      last = text;
      if (isTerminalPhase(message.phase)) return;
      if (changed) continue;
      // Until a relevant change, the resync period, or the client cancels.
      wake = new AbortController();
      await ctx.clock.sleep(ctx.resyncMs, AbortSignal.any([wake.signal, sink.signal]));
      wake = undefined;
    }
  } finally {
    unsubscribe();
  }
}

/** A read that may find nothing: NotFound becomes undefined (the watch then says "deleted"). */
export async function unlessNotFound<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isCoordinatorError(err, 'NotFound')) return undefined;
    throw err;
  }
}

/** The watched object or one of its per-volume children (`spec[parentField]` names it) changed. */
export function concernsObject(kind: 'Backup' | 'Restore', namespace: string, name: string): (e: ClusterEvent) => boolean {
  const child = kind === 'Backup' ? { kind: 'PodVolumeBackup', field: 'backup' } : { kind: 'PodVolumeRestore', field: 'restore' };
  return (e) => {
    const m = e.object.metadata;
    if (m?.namespace !== namespace) return false;
    if (e.kind === kind) return m.name === name;
    return e.kind === child.kind && (e.object.spec as Record<string, unknown> | undefined)?.[child.field] === name;
  };
}
