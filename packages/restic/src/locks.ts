import { isRecord, numberField, parseJsonDocument, stringField } from './json-lines.js';

export interface ResticLock {
  readonly id: string;
  readonly time: Date;
  readonly exclusive: boolean;
  readonly hostname: string;
  readonly username: string;
  readonly pid: number;
}

export interface LockVerdict {
  readonly lock: ResticLock;
  readonly stale: boolean;
  /** Why the lock is (or is not) considered stale, for the report. */
  readonly reason: string;
  readonly ageSeconds: number;
}

export interface StaleRuleContext {
  /** This machine's hostname as restic sees it (os.hostname()). */
  readonly hostname: string;
  readonly nowMs: number;
  readonly pidAlive: (pid: number) => boolean;
}

/** restic 0.14 refreshes live locks every 5 minutes and treats 30 minutes as stale. */
export const STALE_LOCK_AGE_SECONDS = 30 * 60;

/**
 * restic's own rule (lock.Stale in 0.14): older than 30 minutes, or created on this host
 * by a PID that no longer exists. A lock from another host younger than that may belong
 * to a live process we cannot see, so it is never stale here.
 */
export function judgeLock(lock: ResticLock, ctx: StaleRuleContext): LockVerdict {
  const ageSeconds = Math.max(0, Math.round((ctx.nowMs - lock.time.getTime()) / 1000));
  if (ageSeconds > STALE_LOCK_AGE_SECONDS) {
    return { lock, stale: true, ageSeconds, reason: `older than ${STALE_LOCK_AGE_SECONDS / 60} minutes without refresh` };
  }
  if (lock.hostname !== ctx.hostname) {
    return { lock, stale: false, ageSeconds, reason: `held by another host (${lock.hostname}), refreshed ${ageSeconds}s ago` };
  }
  if (!ctx.pidAlive(lock.pid)) {
    return { lock, stale: true, ageSeconds, reason: `PID ${lock.pid} no longer runs on this host` };
  }
  return { lock, stale: false, ageSeconds, reason: `PID ${lock.pid} still runs on this host` };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Parses `restic cat lock <id>` output. */
export function parseLock(id: string, text: string): ResticLock | undefined {
  const doc = parseJsonDocument(text);
  if (!isRecord(doc)) return undefined;
  const time = stringField(doc, 'time');
  if (time === undefined) return undefined;
  return {
    id,
    time: new Date(time),
    exclusive: doc['exclusive'] === true,
    hostname: stringField(doc, 'hostname') ?? '',
    username: stringField(doc, 'username') ?? '',
    pid: numberField(doc, 'pid') ?? 0,
  };
}

export function parseLockIds(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[0-9a-f]{64}$/.test(line));
}

export function describeLock(verdict: LockVerdict): string {
  const { lock } = verdict;
  const kind = lock.exclusive ? 'exclusive' : 'shared';
  return `${kind} lock ${lock.id.slice(0, 8)} held by PID ${lock.pid} on host ${lock.hostname} (user ${lock.username}), ${verdict.ageSeconds}s old: ${verdict.reason}`;
}
