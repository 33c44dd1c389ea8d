/**
 * Reconcilers are state machines: one small handler per phase, chosen by `dispatch`.
 * The handler table's type requires a handler for every phase (a new phase fails to
 * compile until it is handled), and `dispatch` refuses an unknown phase at run time
 * (a newer coordinator may have written one).
 */
import { CoordinatorError } from './errors.js';
import type { EventOptions } from './cluster/cluster-state.js';

/** What a handler decides: the next status (written by the controller, in one place), Events, when to look again. */
export interface Decision<S> {
  readonly status?: S;
  readonly events?: readonly EventOptions[];
  readonly requeueAfterMs?: number;
}

export type PhaseHandlers<P extends string, C, S> = { readonly [K in P]: (ctx: C) => Promise<Decision<S>> };

export function dispatch<P extends string, C, S>(handlers: PhaseHandlers<P, C, S>, phase: string, ctx: C): Promise<Decision<S>> {
  if (!Object.prototype.hasOwnProperty.call(handlers, phase)) {
    return Promise.reject(new CoordinatorError('Internal', `no handler for phase ${JSON.stringify(phase)}; this coordinator is older than the one that wrote it`));
  }
  return handlers[phase as P](ctx);
}

/** Compile-time exhaustiveness for switch statements over phases. */
export function assertNever(value: never, what: string): never {
  throw new CoordinatorError('Internal', `unhandled ${what}: ${JSON.stringify(value)}`);
}
