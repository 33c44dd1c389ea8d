/**
 * Results waiting for the coordinator's ResultAck, kept in memory and on disk under
 * `<cache-dir>/results/` so neither a coordinator restart nor an agent restart loses
 * one. `<cache-dir>/running/` records which jobs were running: a job found there at
 * startup was cut short by a crash, and gets an ERROR_CODE_INTERRUPTED result.
 * Neither directory ever holds credentials: results and records carry none.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobKind__Output, JobResult, MoverKind__Output } from '@ferry/api';
import type { Logger } from '@ferry/log';

export interface RunningRecord {
  readonly jobId: string;
  readonly kind: JobKind__Output;
  readonly mover: MoverKind__Output;
  readonly startedAtUnixMs: number;
}

export interface OutboxOptions {
  readonly cacheDir: string;
  readonly log: Logger;
  readonly wallClock?: () => number;
}

// Job ids are checked by parseJob, but results of rejected jobs carry whatever id came in.
function fileName(jobId: string): string {
  return `${createHash('sha256').update(jobId).digest('hex').slice(0, 40)}.json`;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(value));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

async function readJsonDir<T>(dir: string, log: Logger): Promise<T[]> {
  const out: T[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as T);
    } catch (err) {
      log.warn('discarding an unreadable file in the cache directory', { file: join(dir, name), error: (err as Error).message });
      await rm(join(dir, name), { force: true });
    }
  }
  return out;
}

export class Outbox {
  private readonly results = new Map<string, JobResult>();
  private readonly resultsDir: string;
  private readonly runningDir: string;
  private readonly wallClock: () => number;
  // Disk operations run one at a time, in call order: a job's running record must never
  // be written after its result removed it.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: OutboxOptions) {
    this.resultsDir = join(options.cacheDir, 'results');
    this.runningDir = join(options.cacheDir, 'running');
    this.wallClock = options.wallClock ?? Date.now;
  }

  /** Loads unacknowledged results; turns jobs left running by a previous process into interrupted results. */
  async open(): Promise<void> {
    await mkdir(this.resultsDir, { recursive: true, mode: 0o700 });
    await mkdir(this.runningDir, { recursive: true, mode: 0o700 });
    for (const r of await readJsonDir<JobResult>(this.resultsDir, this.options.log)) if (r.jobId) this.results.set(r.jobId, r);
    for (const rec of await readJsonDir<RunningRecord>(this.runningDir, this.options.log)) {
      if (!this.results.has(rec.jobId)) {
        await this.add({
          jobId: rec.jobId,
          kind: rec.kind,
          mover: rec.mover,
          error: { code: 'ERROR_CODE_INTERRUPTED', message: 'the agent restarted while the job ran; assign it again', retriable: true },
          fileErrors: [],
          fileErrorsTotal: 0,
          startedAtUnixMs: rec.startedAtUnixMs,
          finishedAtUnixMs: this.wallClock(),
        });
      }
      await rm(join(this.runningDir, fileName(rec.jobId)), { force: true });
    }
    if (this.results.size > 0) this.options.log.info('results waiting for acknowledgement', { count: this.results.size });
  }

  get size(): number {
    return this.results.size;
  }

  has(jobId: string): boolean {
    return this.results.has(jobId);
  }

  get(jobId: string): JobResult | undefined {
    return this.results.get(jobId);
  }

  all(): JobResult[] {
    return [...this.results.values()];
  }

  markRunning(record: RunningRecord): Promise<void> {
    return this.serial(() => writeJsonAtomic(join(this.runningDir, fileName(record.jobId)), record));
  }

  /** Resolves when every disk operation asked for so far is done. */
  flushed(): Promise<void> {
    return this.serial(async () => undefined);
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Stores a result (persisted before it is first sent) and clears the job's running record. */
  add(result: JobResult): Promise<void> {
    const jobId = result.jobId ?? '';
    this.results.set(jobId, result);
    return this.serial(async () => {
      try {
        await writeJsonAtomic(join(this.resultsDir, fileName(jobId)), result);
      } catch (err) {
        this.options.log.error('could not persist a job result; it is kept in memory only', { job: jobId, error: (err as Error).message });
      }
      await rm(join(this.runningDir, fileName(jobId)), { force: true });
    });
  }

  async acknowledge(jobId: string): Promise<boolean> {
    if (!this.results.delete(jobId)) return false;
    await this.serial(() => rm(join(this.resultsDir, fileName(jobId)), { force: true }));
    return true;
  }
}
