/**
 * Opens a job's repository store like `openStore`, with a timing layer under the retry
 * layer so every attempt is measured (ferry_store_request_duration_seconds) and every
 * retry counted (ferry_store_request_retries_total).
 */
import { resolve } from 'node:path';
import {
  blobDataLength,
  BlobStoreError,
  LocalStore,
  RetryingStore,
  S3Store,
  parseS3Url,
  type BlobData,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type BlobStoreOperation,
  type CallOptions,
  type Clock,
  type GetOptions,
  type PutOptions,
} from '@ferry/blobstore';
import type { RepositorySpec } from './job-spec.js';
import type { AgentMetrics } from './metrics.js';

export type StoreBackend = 's3' | 'local';

/** Measures each call of the store below it. */
export class TimedStore implements BlobStore {
  readonly description: string;

  constructor(
    private readonly inner: BlobStore,
    private readonly backend: StoreBackend,
    private readonly metrics: AgentMetrics,
  ) {
    this.description = inner.description;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  put(key: string, data: BlobData, options?: PutOptions): Promise<void> {
    return this.time('put', async () => {
      await this.inner.put(key, data, options);
      this.metrics.storeBytes.inc({ backend: this.backend, direction: 'upload' }, blobDataLength(data));
    });
  }

  get(key: string, options?: GetOptions): Promise<Buffer> {
    return this.time('get', async () => {
      const data = await this.inner.get(key, options);
      this.metrics.storeBytes.inc({ backend: this.backend, direction: 'download' }, data.byteLength);
      return data;
    });
  }

  stat(key: string, options?: CallOptions): Promise<BlobStat | undefined> {
    return this.time('stat', () => this.inner.stat(key, options));
  }

  delete(key: string, options?: CallOptions): Promise<void> {
    return this.time('delete', () => this.inner.delete(key, options));
  }

  async *list(prefix: string, options?: CallOptions): AsyncIterable<BlobListEntry> {
    const end = this.metrics.storeRequestDuration.startTimer({ backend: this.backend, op: 'list' });
    try {
      yield* this.inner.list(prefix, options);
      end({ result: 'ok' });
    } catch (err) {
      end({ result: resultLabel(err) });
      throw err;
    }
  }

  private async time<T>(op: BlobStoreOperation, call: () => Promise<T>): Promise<T> {
    const end = this.metrics.storeRequestDuration.startTimer({ backend: this.backend, op });
    try {
      const out = await call();
      end({ result: 'ok' });
      return out;
    } catch (err) {
      end({ result: resultLabel(err) });
      throw err;
    }
  }
}

// A miss is an answer, not a failure; other codes form a small fixed set.
function resultLabel(err: unknown): string {
  if (err instanceof BlobStoreError) return err.code === 'NotFound' ? 'not_found' : err.code;
  return 'error';
}

export interface OpenJobStoreOptions {
  readonly repository: RepositorySpec;
  readonly metrics: AgentMetrics;
  readonly clock?: Clock;
}

export function openJobStore(options: OpenJobStoreOptions): BlobStore {
  const { repository, metrics } = options;
  const url = repository.location;
  let backend: StoreBackend;
  let inner: BlobStore;
  if (url.startsWith('s3:')) {
    const s3 = repository.s3;
    backend = 's3';
    inner = new S3Store({
      ...parseS3Url(url),
      ...(s3?.accessKeyId ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}) } } : {}),
      ...(s3?.region ? { region: s3.region } : {}),
      ...(s3?.caBundlePem ? { caBundle: s3.caBundlePem } : {}),
    });
  } else {
    const dir = url.startsWith('local:') ? url.slice('local:'.length) : url;
    if (dir === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(dir)) {
      throw new BlobStoreError('InvalidArgument', `unsupported repository location ${JSON.stringify(url)}: use a directory path, local:<path> or s3:https://host/bucket[/prefix]`);
    }
    backend = 'local';
    inner = new LocalStore({ root: resolve(dir) });
  }
  return new RetryingStore(new TimedStore(inner, backend, metrics), {
    ...(options.clock ? { clock: options.clock } : {}),
    onRetry: (event) => metrics.storeRetries.inc({ backend, op: event.op }),
  });
}
