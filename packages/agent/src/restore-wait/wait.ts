/**
 * The restore-wait loop: polls every volume for its done-marker or failed-marker.
 * Polling (not inotify) because volumes may be NFS or FUSE mounts where change
 * notifications never arrive; a stat per volume every half second costs nothing.
 */
import { readFile, rm, rmdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { doneMarkerPath, failedMarkerPath } from '../markers.js';

export interface WaitOptions {
  readonly restoreUid: string;
  readonly volumes: readonly string[];
  /** Undefined: wait forever. */
  readonly timeoutMs?: number;
  readonly pollIntervalMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called now and then with the volumes still waited for. */
  readonly onWaiting?: (pending: readonly string[], elapsedMs: number) => void;
  /** How often onWaiting is called; default 60000. */
  readonly reportIntervalMs?: number;
}

export type WaitOutcome =
  | { readonly kind: 'restored'; readonly elapsedMs: number; readonly unremovable: readonly string[] }
  | { readonly kind: 'failed'; readonly volume: string; readonly reason: string; readonly elapsedMs: number }
  | { readonly kind: 'timeout'; readonly pending: readonly string[]; readonly elapsedMs: number };

async function present(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function waitForRestore(options: WaitOptions): Promise<WaitOutcome> {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = now();
  const reportEvery = options.reportIntervalMs ?? 60_000;
  let lastReport = started;
  for (;;) {
    const pending: string[] = [];
    for (const volume of options.volumes) {
      const failed = failedMarkerPath(volume, options.restoreUid);
      if (await present(failed)) {
        const reason = (await readFile(failed, 'utf8').catch(() => 'no reason recorded')).trim();
        return { kind: 'failed', volume, reason, elapsedMs: now() - started };
      }
      if (!(await present(doneMarkerPath(volume, options.restoreUid)))) pending.push(volume);
    }
    const elapsedMs = now() - started;
    if (pending.length === 0) return { kind: 'restored', elapsedMs, unremovable: await removeMarkers(options) };
    if (options.timeoutMs !== undefined && elapsedMs >= options.timeoutMs) return { kind: 'timeout', pending, elapsedMs };
    if (now() - lastReport >= reportEvery) {
      lastReport = now();
      options.onWaiting?.(pending, elapsedMs);
    }
    const left = options.timeoutMs === undefined ? options.pollIntervalMs : Math.min(options.pollIntervalMs, options.timeoutMs - elapsedMs);
    await sleep(Math.max(1, left));
  }
}

// The markers are the agent's message to this program, not the application's data.
// A marker that cannot be removed (read-only mount, other owner) is reported, not fatal.
async function removeMarkers(options: WaitOptions): Promise<string[]> {
  const unremovable: string[] = [];
  for (const volume of options.volumes) {
    const marker = doneMarkerPath(volume, options.restoreUid);
    try {
      await rm(marker);
      await rmdir(dirname(marker)).catch(() => undefined);
    } catch {
      unremovable.push(marker);
    }
  }
  return unremovable;
}
