/**
 * A fixed pool of blob workers. Requests go to the worker with the fewest in flight;
 * buffers are transferred (not copied) whenever the caller owns their whole ArrayBuffer.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { BlobType } from './blob-codec.js';
import { ownsWholeBuffer, type DecodeItem, type DecodeResult, type EncodeResult, type ListDirResult, type ReadEncodeResult, type StreamReadResult, type WorkerInit, type WorkerRequest, type WorkerResponse } from './worker-protocol.js';
import { RepositoryError } from './errors.js';
import type { SmallFileJob, SmallFileResult } from './file-writer.js';

interface Pending {
  resolve(value: WorkerResponse): void;
  reject(err: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Streams bound to this worker that have not sent their final block. */
  streams: number;
}

export interface StreamHandle {
  push(block: Buffer, final: boolean): Promise<readonly EncodeResult[]>;
  /**
   * Has the worker read the next bytes itself: up to `length` from `fd` at `position`. The
   * fd must stay open until this settles. After a short read (end of file) later reads of
   * the stream return nothing, so the caller stops at the first short read.
   */
  read(fd: number, position: number, length: number, final: boolean): Promise<StreamReadResult>;
  /** Discards the worker's state for an abandoned stream. */
  drop(): Promise<void>;
}

type WithoutSeq<T> = T extends unknown ? Omit<T, 'seq'> : never;

/**
 * Production runs the compiled blob-worker.js. Under vitest this module is TypeScript,
 * so the worker is started through a bootstrap that registers tsx first.
 */
function spawnWorker(workerData: unknown): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./blob-worker.js', self), { workerData });
  const entry = new URL('./blob-worker.ts', self).href;
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class WorkerPool {
  private readonly workers: PoolWorker[];
  private seq = 0;
  private closed = false;

  private streams = 0;

  constructor(init: WorkerInit, size = Math.max(1, availableParallelism())) {
    this.workers = Array.from({ length: size }, () => this.spawn(init));
  }

  /**
   * Opens a byte stream on the least busy worker. Blocks pushed to it are chunked there
   * in order; each push resolves with the chunks that block completed (and, for the
   * final block, the rest).
   */
  openStream(): StreamHandle {
    // Streams are opened in bursts (several large files start at once) before any work is
    // queued, so balance by open streams first, not only by requests in flight.
    const target = this.workers.reduce((best, w) => (w.streams < best.streams || (w.streams === best.streams && w.pending.size < best.pending.size) ? w : best));
    const stream = ++this.streams;
    target.streams++;
    let open = true;
    const close = (): void => {
      if (open) target.streams--;
      open = false;
    };
    return {
      push: async (block, final) => {
        const transfer = ownsWholeBuffer(block) ? [block.buffer as ArrayBuffer] : [];
        if (final) close();
        const res = await this.request({ op: 'stream', stream, block, final }, transfer, target);
        if (res.op !== 'encode') throw new Error('worker answered the wrong request');
        return res.results;
      },
      read: async (fd, position, length, final) => {
        if (final) close();
        const res = await this.request({ op: 'stream-read', stream, fd, position, length, final }, [], target);
        if (res.op !== 'stream-read') throw new Error('worker answered the wrong request');
        return res.result;
      },
      drop: async () => {
        close();
        await this.request({ op: 'drop', stream }, [], target);
      },
    };
  }

  async encode(type: BlobType, chunks: readonly Buffer[]): Promise<readonly EncodeResult[]> {
    const transfer = chunks.filter(ownsWholeBuffer).map((c) => c.buffer as ArrayBuffer);
    const res = await this.request({ op: 'encode', type, chunks }, transfer);
    if (res.op !== 'encode') throw new Error('worker answered the wrong request');
    return res.results;
  }

  /** Reads and encodes small files in a worker (its syscalls then run beside the main thread). */
  async readEncode(paths: readonly Buffer[], maxSize: number): Promise<readonly ReadEncodeResult[]> {
    const res = await this.request({ op: 'read-encode', paths, maxSize }, []);
    if (res.op !== 'read-encode') throw new Error('worker answered the wrong request');
    return res.results;
  }

  async writeFiles(jobs: readonly SmallFileJob[]): Promise<readonly SmallFileResult[]> {
    const transfer = jobs.flatMap((j) => j.blobs.map((b) => b.sealed)).filter(ownsWholeBuffer).map((b) => b.buffer as ArrayBuffer);
    const res = await this.request({ op: 'write-files', jobs }, transfer);
    if (res.op !== 'write-files') throw new Error('worker answered the wrong request');
    return res.results;
  }

  async listDir(path: Buffer): Promise<ListDirResult> {
    const res = await this.request({ op: 'list-dir', path }, []);
    if (res.op !== 'list-dir') throw new Error('worker answered the wrong request');
    return res.result;
  }

  /** `transfer` moves buffers the items are views of (a whole ranged read) to the worker without a copy. */
  async decode(items: readonly (DecodeItem & { type: BlobType })[], transfer = items.map((i) => i.sealed).filter(ownsWholeBuffer).map((s) => s.buffer as ArrayBuffer)): Promise<readonly DecodeResult[]> {
    const res = await this.request({ op: 'decode', items }, transfer);
    if (res.op !== 'decode') throw new Error('worker answered the wrong request');
    return res.results;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private spawn(init: WorkerInit): PoolWorker {
    const worker = spawnWorker(init);
    const pw: PoolWorker = { worker, pending: new Map(), streams: 0 };
    worker.on('message', (res: WorkerResponse) => this.settle(pw, res));
    worker.on('error', (err) => this.failAll(pw, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.failAll(pw, new Error(`blob worker exited with code ${code}`));
    });
    worker.unref();
    return pw;
  }

  private request(req: WithoutSeq<WorkerRequest>, transfer: ArrayBuffer[], target = this.leastBusy()): Promise<WorkerResponse> {
    if (this.closed) return Promise.reject(new RepositoryError('InvalidArgument', 'repository is closed'));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      if (target.pending.size === 0) target.worker.ref();
      target.pending.set(seq, { resolve, reject });
      target.worker.postMessage({ ...req, seq }, transfer);
    });
  }

  private settle(pw: PoolWorker, res: WorkerResponse): void {
    const p = pw.pending.get(res.seq);
    if (!p) return;
    pw.pending.delete(res.seq);
    if (pw.pending.size === 0) pw.worker.unref();
    if (res.op === 'error') p.reject(new Error(`blob worker: ${res.message}`));
    else p.resolve(res);
  }

  private failAll(pw: PoolWorker, err: Error): void {
    for (const p of pw.pending.values()) p.reject(err);
    pw.pending.clear();
  }

  private leastBusy(): PoolWorker {
    let best = this.workers[0]!;
    for (const w of this.workers) if (w.pending.size < best.pending.size) best = w;
    return best;
  }
}
