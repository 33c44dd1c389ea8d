/**
 * The one place status is written: a handler's decision is compared with what is stored,
 * written with a resourceVersion guard, its Events recorded and terminal transitions
 * counted. A conflict surfaces as an error, so the work queue retries with fresh data.
 */
import { isTerminalPhase } from '@ferry/api';
import type { ControllerContext } from '../context.js';
import type { FerryKind, FerryObject } from '../cluster/cluster-state.js';
import type { Decision } from '../state-machine.js';
import { recordEvent, recordPhase } from '../operation-logs/record.js';

export async function commit<S extends { phase?: string }>(ctx: ControllerContext, kind: FerryKind, obj: FerryObject<unknown, S>, decision: Decision<S>): Promise<FerryObject<unknown, S>> {
  let stored = obj;
  if (decision.status !== undefined && JSON.stringify(decision.status) !== JSON.stringify(obj.status ?? {})) {
    stored = await ctx.cluster.replaceStatus(kind, obj, decision.status);
    const before = obj.status?.phase;
    const after = decision.status.phase;
    if (after !== before && isTerminalPhase(after)) ctx.metrics.operationsFinished.inc({ kind, result: resultLabel(after) });
    if (after !== before) {
      ctx.log.info('phase changed', { kind, namespace: obj.metadata.namespace, name: obj.metadata.name, from: before ?? 'New', to: after ?? 'New' });
      recordPhase(ctx, kind, stored as FerryObject<unknown, S & { error?: { code: string; message: string } }>, before, after);
    }
  }
  for (const e of decision.events ?? []) {
    await ctx.cluster.event(e, ctx.clock);
    recordEvent(ctx, kind, obj, e);
  }
  return stored;
}

/** Runs `attempt` again on a conflict, with a fresh read each time. */
export async function retryOnConflict<T>(attempt: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (i >= tries || (code !== 409 && code !== 422)) throw err;
    }
  }
}

export function involved(kind: FerryKind, obj: FerryObject) {
  return { apiVersion: 'ferry.dev/v1alpha1', kind, name: obj.metadata.name ?? '', namespace: obj.metadata.namespace ?? '', uid: obj.metadata.uid ?? '' };
}

/** A terminal phase as a `result` label value, as the agent writes them: PartiallyFailed → partially_failed. */
export function resultLabel(phase: string): string {
  return phase.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}
