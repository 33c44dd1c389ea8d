/**
 * The coordinator's memory of running operations' logs: lines kept per Backup or Restore
 * (by uid) until the operation ended and its log was stored at the location. Memory is
 * bounded twice: each operation keeps its first HEAD lines and its newest lines up to
 * MAX_LINES (what was dropped between them becomes one marker line), and at most
 * MAX_OPERATIONS operations are held (the oldest is forgotten first, which its stored log
 * then says).
 */
import type { Clock } from '../clock.js';

export type OperationKind = 'Backup' | 'Restore';
export type LogLevel = 'info' | 'warn' | 'error';

/** One line of an operation's log, as stored and as served. */
export interface OperationLogLine {
  /** RFC 3339 with milliseconds, from the coordinator's Clock. */
  readonly time: string;
  readonly level: LogLevel;
  /** `coordinator`, `agent/<node>` (what the node's agent reported), or `hook/<pod>`. */
  readonly source: string;
  readonly msg: string;
  /** `<namespace>/<pod>/<volume>` when the line is about one volume. */
  readonly volume?: string;
  /** A reason or error code (`HookFailed`, `VolumeNotFound`, …). */
  readonly code?: string;
}

export interface OperationRef {
  readonly kind: OperationKind;
  readonly uid: string;
}

export type NewLine = Omit<OperationLogLine, 'time'>;

export const LOG_LIMITS = {
  /** Lines kept per operation, the marker excluded. */
  maxLines: 5_000,
  /** The first lines always kept (the start is what explains the rest). */
  head: 500,
  /** Longer messages are cut (a hook's stderr tail, a mover's message). */
  maxMessageChars: 2_048,
  maxOperations: 2_000,
} as const;

interface Entry {
  readonly kind: OperationKind;
  lines: OperationLogLine[];
  dropped: number;
  /** Keys of lines recorded once per operation (a job start, a phase). */
  readonly once: Set<string>;
}

export interface TakenLog {
  readonly lines: OperationLogLine[];
  /** False when this process did not see the operation from its start (a restart, or forgotten for memory). */
  readonly complete: boolean;
}

export class OperationLogBook {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: { readonly maxLines: number; readonly head: number; readonly maxMessageChars: number; readonly maxOperations: number } = LOG_LIMITS,
  ) {}

  /** Starts an operation's log: lines recorded before this (by an earlier process) are not here, and the stored log says so. */
  begin(op: OperationRef): void {
    if (!op.uid || this.entries.has(op.uid)) return;
    if (this.entries.size >= this.limits.maxOperations) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(op.uid, { kind: op.kind, lines: [], dropped: 0, once: new Set() });
  }

  /** Adds a line to a known operation; lines for operations this process did not begin are ignored. */
  record(op: OperationRef, line: NewLine, onceKey?: string): void {
    const e = this.entries.get(op.uid);
    if (!e || e.kind !== op.kind) return;
    if (onceKey !== undefined) {
      if (e.once.has(onceKey)) return;
      e.once.add(onceKey);
    }
    const msg = line.msg.length > this.limits.maxMessageChars ? `${line.msg.slice(0, this.limits.maxMessageChars)}… (cut)` : line.msg;
    if (e.lines.length >= this.limits.maxLines) {
      // Keep the head and the newest lines: what led to the end matters most.
      e.lines.splice(this.limits.head, 1);
      e.dropped++;
    }
    e.lines.push({ time: new Date(this.clock.now()).toISOString(), ...line, msg });
  }

  has(uid: string): boolean {
    return this.entries.has(uid);
  }

  /** The lines so far, with the drop marker in place; the entry stays until forget(). */
  peek(op: OperationRef): TakenLog {
    const e = this.entries.get(op.uid);
    if (!e || e.kind !== op.kind) return { lines: [], complete: false };
    if (e.dropped === 0) return { lines: [...e.lines], complete: true };
    const at = this.limits.head;
    const marker: OperationLogLine = { time: e.lines[at]?.time ?? new Date(this.clock.now()).toISOString(), level: 'warn', source: 'coordinator', msg: `${e.dropped} lines dropped here: an operation keeps at most ${this.limits.maxLines} lines in the coordinator's memory (the first ${at} and the newest)` };
    return { lines: [...e.lines.slice(0, at), marker, ...e.lines.slice(at)], complete: true };
  }

  forget(uid: string): void {
    this.entries.delete(uid);
  }

  get size(): number {
    return this.entries.size;
  }
}
