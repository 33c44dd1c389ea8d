/**
 * Long work the coordinator does itself (hooks, backup commands) runs beside the reconcile
 * loop, never inside it: a reconcile starts a task keyed by what it works on and returns at
 * once; later reconciles see it running (or read the outcome it recorded). A key runs at
 * most once at a time in this process. Nothing here survives a restart: what must (a hook
 * that already ran) is recorded in the cluster by the task itself.
 */
import type { ControllerContext } from '../context.js';
import { messageOf } from '../errors.js';

export interface TaskHandle<P> {
  readonly abort: AbortController;
  /** What the task shares while it runs (progress); read by reconciles. */
  readonly state: P;
  /** Set when the task finished; reconciles pick it up and write it to status. */
  outcome?: unknown;
}

export class BackgroundTasks {
  private readonly running = new Map<string, TaskHandle<unknown>>();

  constructor(private readonly c: ControllerContext) {}

  get<P>(key: string): TaskHandle<P> | undefined {
    return this.running.get(key) as TaskHandle<P> | undefined;
  }

  /**
   * Starts `work` under `key` unless a task of that key exists. The task stays listed after
   * it finished (with its `outcome`) until `forget(key)`, so a reconcile can write the
   * outcome; `onDone` names the queue key to look at once it finished.
   */
  start<P>(key: string, state: P, onDone: string, work: (h: TaskHandle<P>) => Promise<unknown>): TaskHandle<P> {
    const existing = this.get<P>(key);
    if (existing) return existing;
    const handle: TaskHandle<P> = { abort: new AbortController(), state };
    this.running.set(key, handle);
    work(handle)
      .then(
        (outcome) => (handle.outcome = outcome ?? null),
        (err: unknown) => {
          // An unexpected failure (the API server went away, say) drops the task so the next reconcile starts it again.
          this.c.log.warn('background task failed; it is retried at the next reconcile', { task: key, error: messageOf(err) });
          this.running.delete(key);
        },
      )
      .finally(() => this.c.enqueue(onDone));
    return handle;
  }

  forget(key: string): void {
    this.running.delete(key);
  }

  /** A leader that stops (SIGTERM, lost Lease) ends its hooks and commands; the next leader runs them again. */
  abortAll(): void {
    for (const handle of this.running.values()) handle.abort.abort();
  }
}

// One registry per controller context (= per leading coordinator); the context is built once per leadership.
const registries = new WeakMap<ControllerContext, BackgroundTasks>();

export function tasksOf(c: ControllerContext): BackgroundTasks {
  let t = registries.get(c);
  if (!t) registries.set(c, (t = new BackgroundTasks(c)));
  return t;
}
