/** Throttled progress reporting with rate and ETA, shared by backup and restore. */
import type { Progress } from './api.js';

const INTERVAL_MS = 250;

export class ProgressMeter {
  filesDone = 0;
  bytesDone = 0;
  filesTotal: number | undefined;
  bytesTotal: number | undefined;
  currentFile: string | undefined;
  private lastEmit = 0;
  private readonly started: number;

  constructor(
    private readonly op: Progress['op'],
    private readonly clock: { now(): number },
    private readonly sink: ((p: Progress) => void) | undefined,
  ) {
    this.started = clock.now();
  }

  get wanted(): boolean {
    return this.sink !== undefined;
  }

  tick(): void {
    if (!this.sink) return;
    const now = this.clock.now();
    if (now - this.lastEmit < INTERVAL_MS) return;
    this.lastEmit = now;
    this.sink(this.snapshot(now));
  }

  finish(): void {
    this.sink?.(this.snapshot(this.clock.now()));
  }

  private snapshot(now: number): Progress {
    const seconds = Math.max((now - this.started) / 1000, 1e-3);
    const rate = this.bytesDone / seconds;
    const eta = this.bytesTotal !== undefined && rate > 0 ? Math.max(0, (this.bytesTotal - this.bytesDone) / rate) : undefined;
    return {
      op: this.op,
      filesDone: this.filesDone,
      bytesDone: this.bytesDone,
      ...(this.filesTotal !== undefined ? { filesTotal: this.filesTotal } : {}),
      ...(this.bytesTotal !== undefined ? { bytesTotal: this.bytesTotal } : {}),
      ...(this.currentFile !== undefined ? { currentFile: this.currentFile } : {}),
      bytesPerSecond: Math.round(rate),
      ...(eta !== undefined ? { etaSeconds: Math.round(eta) } : {}),
    };
  }
}
