import { BlobStoreError } from './blobstore.js';
import type { Clock } from './clock.js';

/**
 * Byte-rate limiter. A take may drive the balance negative (a 16 MiB pack at 1 MiB/s is
 * one take); the taker then sleeps until the debt is repaid. Concurrent takers queue
 * behind each other's debt, so the aggregate rate holds without a lock.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly clock: Clock,
    /** Bytes that may pass at once after a pause (default: one second's worth). */
    private readonly burstBytes: number = bytesPerSecond,
  ) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new BlobStoreError('InvalidArgument', `a bandwidth limit must be a positive number of bytes/s, got ${bytesPerSecond}`);
    }
    this.tokens = burstBytes;
    this.updatedAt = clock.now();
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.clock.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.updatedAt) * this.bytesPerSecond) / 1000);
    this.updatedAt = now;
    this.tokens -= bytes;
    if (this.tokens < 0) await this.clock.sleep((-this.tokens * 1000) / this.bytesPerSecond, signal);
  }
}
