import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { abortedError, throwIfAborted } from './abort.js';
import {
  blobDataLength,
  type BlobData,
  BlobStoreError,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type BlobStoreCapabilities,
  type ByteRange,
  type CallOptions,
  type GetOptions,
  type PutOptions,
} from './blobstore.js';
import { assertRangeWithin, assertValidKey, assertValidPrefix, assertWellFormedRange } from './keys.js';
import { mapS3Error } from './s3-errors.js';

type Sdk = typeof import('@aws-sdk/client-s3');
let sdkLoading: Promise<Sdk> | undefined;
/**
 * The AWS SDK takes ~130 ms to import; loading it on first use keeps every command on a
 * local repository (and every process that never touches S3) from paying for it.
 */
function sdk(): Promise<Sdk> {
  sdkLoading ??= import('@aws-sdk/client-s3');
  return sdkLoading;
}

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket ('' or e.g. 'team-a/repo'); a trailing '/' is implied. */
  readonly prefix?: string;
  /** e.g. 'http://127.0.0.1:7480'; omitted for AWS. */
  readonly endpoint?: string;
  /** Defaults to AWS_REGION, then AWS_DEFAULT_REGION, then 'us-east-1'. */
  readonly region?: string;
  /** Path-style addressing; defaults to true when an endpoint is given. */
  readonly forcePathStyle?: boolean;
  /** Static credentials; without them the SDK's standard env/profile/IMDS chain is used. */
  readonly credentials?: S3Credentials;
  /** PEM contents or the path of a PEM file with the CA(s) the endpoint's certificate chains to. */
  readonly caBundle?: string;
  /**
   * Attempts the SDK itself makes per call. Defaults to 1: retrying belongs to
   * `RetryingStore`, which `openStore` always puts in front.
   */
  readonly maxAttempts?: number;
  /** Give up connecting after this long (default 10 s). */
  readonly connectionTimeoutMs?: number;
  /** Give up when the socket is idle this long during a request (default 120 s). */
  readonly idleTimeoutMs?: number;
  /** Keys per ListObjectsV2 page (default and maximum 1000). */
  readonly listPageSize?: number;
}

/**
 * A store in an S3 bucket (AWS, Ceph RGW, MinIO…). `put` sends Content-MD5 so the server
 * rejects corrupted uploads, and `If-None-Match: *` for conditional creates.
 */
export class S3Store implements BlobStore {
  readonly description: string;
  readonly capabilities: BlobStoreCapabilities = { conditionalCreate: true };
  readonly bucket: string;
  readonly prefix: string;
  private readonly clientReady: Promise<S3Client>;
  private readonly listPageSize: number;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.clientReady = createS3Client(options);
    // Surfaced by the first call that awaits it.
    this.clientReady.catch(() => undefined);
    this.listPageSize = options.listPageSize ?? 1000;
    this.description = describeS3Location(options.endpoint, this.bucket, this.prefix);
  }

  async put(key: string, data: BlobData, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    const what = `put ${key} to ${this.description}`;
    throwIfAborted(options.signal, what, key);
    const md5 = createHash('md5');
    for (const part of data instanceof Uint8Array ? [data] : data) md5.update(part);
    const command = new (await sdk()).PutObjectCommand({
      Bucket: this.bucket,
      Key: this.prefix + key,
      // Parts are streamed in order instead of joined; a retry calls put again, with a new stream.
      Body: data instanceof Uint8Array ? data : Readable.from(data, { objectMode: false }),
      ContentLength: blobDataLength(data),
      ContentMD5: md5.digest('base64'),
      IfNoneMatch: options.ifNotExists ? '*' : undefined,
    });
    try {
      await (await this.clientReady).send(command, { abortSignal: options.signal });
    } catch (err) {
      const mapped = mapS3Error(err, what, key, options.signal);
      if (mapped.code === 'AlreadyExists') {
        throw new BlobStoreError('AlreadyExists', `${key} already exists in ${this.description}`, { key, cause: err });
      }
      throw mapped;
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    assertValidKey(key);
    const { range, signal } = options;
    if (range) assertWellFormedRange(key, range);
    const what = `get ${key} from ${this.description}`;
    throwIfAborted(signal, what, key);
    if (range?.length === 0) return this.emptyRange(key, range, signal);
    try {
      const res = await (await this.clientReady).send(
        new (await sdk()).GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
        }),
        { abortSignal: signal },
      );
      const body = await readBody(res.Body as Readable | undefined, signal, what, key);
      if (range) checkRangeAnswer(key, range, res.ContentRange, body.length, this.description);
      else if (res.ContentLength !== undefined && body.length !== res.ContentLength) throw truncated(key, what);
      return body;
    } catch (err) {
      const mapped = mapS3Error(err, what, key, signal);
      if (mapped.code === 'InvalidRange' && range) {
        throw new BlobStoreError('InvalidRange', `range offset=${range.offset} length=${range.length} is outside ${key}`, {
          key,
          cause: err,
        });
      }
      throw mapped;
    }
  }

  async stat(key: string, options: CallOptions = {}): Promise<BlobStat | undefined> {
    assertValidKey(key);
    const what = `stat ${key} in ${this.description}`;
    throwIfAborted(options.signal, what, key);
    try {
      const res = await (await this.clientReady).send(new (await sdk()).HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), {
        abortSignal: options.signal,
      });
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      const mapped = mapS3Error(err, what, key, options.signal);
      if (mapped.code === 'NotFound') return undefined;
      throw mapped;
    }
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<BlobListEntry> {
    assertValidPrefix(prefix);
    const what = `list ${prefix} in ${this.description}`;
    let token: string | undefined;
    do {
      throwIfAborted(options.signal, what);
      const page = await this.listPage(prefix, token, what, options.signal);
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.startsWith(this.prefix)) continue;
        yield { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    assertValidKey(key);
    const what = `delete ${key} from ${this.description}`;
    throwIfAborted(options.signal, what, key);
    try {
      await (await this.clientReady).send(new (await sdk()).DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), {
        abortSignal: options.signal,
      });
    } catch (err) {
      const mapped = mapS3Error(err, what, key, options.signal);
      if (mapped.code !== 'NotFound' || isMissingBucket(err)) throw mapped;
    }
  }

  /** Closes pooled connections; the store must not be used afterwards. */
  close(): void {
    void this.clientReady.then((c) => c.destroy(), () => undefined);
  }

  private async listPage(prefix: string, token: string | undefined, what: string, signal: AbortSignal | undefined) {
    try {
      return await (await this.clientReady).send(
        new (await sdk()).ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          ContinuationToken: token,
          MaxKeys: this.listPageSize,
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      throw mapS3Error(err, what, undefined, signal);
    }
  }

  // S3 cannot express an empty range; answer it from the object's size.
  private async emptyRange(key: string, range: ByteRange, signal: AbortSignal | undefined): Promise<Buffer> {
    const st = await this.stat(key, { signal });
    if (st === undefined) throw new BlobStoreError('NotFound', `${key} does not exist in ${this.description}`, { key });
    assertRangeWithin(key, range, st.size);
    return Buffer.alloc(0);
  }
}

export interface EnsureBucketResult {
  readonly created: boolean;
}

/** Creates the bucket unless it exists (used by `ferry init`). */
export async function ensureBucket(options: S3StoreOptions, callOptions: CallOptions = {}): Promise<EnsureBucketResult> {
  const client = await createS3Client(options);
  const what = `create bucket ${describeS3Location(options.endpoint, options.bucket, '')}`;
  const abortSignal = callOptions.signal;
  try {
    try {
      await client.send(new (await sdk()).HeadBucketCommand({ Bucket: options.bucket }), { abortSignal });
      return { created: false };
    } catch (err) {
      if (mapS3Error(err, what, undefined, abortSignal).code !== 'NotFound') throw err;
    }
    try {
      await client.send(new (await sdk()).CreateBucketCommand({ Bucket: options.bucket }), { abortSignal });
      return { created: true };
    } catch (err) {
      if ((err as { name?: string }).name === 'BucketAlreadyOwnedByYou') return { created: false };
      throw err;
    }
  } catch (err) {
    throw mapS3Error(err, what, undefined, abortSignal);
  } finally {
    client.destroy();
  }
}

/** The S3 client the store uses: checksums only where S3 requires them (RGW 16 rejects the rest). */
export async function createS3Client(options: S3StoreOptions): Promise<S3Client> {
  const ca = options.caBundle === undefined ? undefined : loadCaBundle(options.caBundle);
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  const { S3Client } = await sdk();
  return new S3Client({
    endpoint: options.endpoint,
    region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent({ ...agentOptions, ca }),
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      socketTimeout: options.idleTimeoutMs ?? 120_000,
    },
  });
}

/** `s3:<endpoint>/<bucket>/<prefix>`, without any credentials the endpoint URL might carry. */
export function describeS3Location(endpoint: string | undefined, bucket: string, prefix: string): string {
  let base = 'aws';
  if (endpoint !== undefined) {
    try {
      const url = new URL(endpoint);
      base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    } catch {
      base = '<invalid endpoint>';
    }
  }
  return `s3:${base}/${bucket}${prefix === '' ? '' : `/${prefix.replace(/\/$/, '')}`}`;
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  try {
    assertValidPrefix(`${trimmed}/`);
  } catch (err) {
    throw new BlobStoreError('InvalidArgument', `invalid S3 prefix ${JSON.stringify(prefix)}`, { cause: err });
  }
  return `${trimmed}/`;
}

function loadCaBundle(caBundle: string): string {
  if (caBundle.includes('-----BEGIN')) return caBundle;
  try {
    return readFileSync(caBundle, 'utf8');
  } catch (err) {
    throw new BlobStoreError('InvalidArgument', `cannot read the CA bundle ${caBundle}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function readBody(
  body: Readable | undefined,
  signal: AbortSignal | undefined,
  what: string,
  key: string,
): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  const onAbort = (): void => {
    body.destroy(abortedError(what, key, signal?.reason));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function checkRangeAnswer(
  key: string,
  range: ByteRange,
  contentRange: string | undefined,
  received: number,
  description: string,
): void {
  // "bytes 0-99/1234": S3 clips a range that runs past the end instead of refusing it.
  const total = Number(/\/(\d+)$/.exec(contentRange ?? '')?.[1] ?? NaN);
  if (Number.isFinite(total)) assertRangeWithin(key, range, total);
  if (received !== range.length) throw truncated(key, `get ${key} from ${description}`);
}

function truncated(key: string, what: string): BlobStoreError {
  return new BlobStoreError('Unavailable', `${what} failed: the response body ended early; the call can be retried`, {
    key,
  });
}

function isMissingBucket(err: unknown): boolean {
  return (err as { name?: string }).name === 'NoSuchBucket';
}
