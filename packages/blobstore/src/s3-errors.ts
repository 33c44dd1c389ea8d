import { BlobStoreError, type BlobStoreErrorCode } from './blobstore.js';

interface SdkErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const BY_NAME: Readonly<Record<string, BlobStoreErrorCode>> = {
  AbortError: 'Aborted',
  NoSuchKey: 'NotFound',
  NotFound: 'NotFound',
  NoSuchBucket: 'NotFound',
  PreconditionFailed: 'AlreadyExists',
  AccessDenied: 'PermissionDenied',
  InvalidAccessKeyId: 'PermissionDenied',
  SignatureDoesNotMatch: 'PermissionDenied',
  QuotaExceeded: 'NoSpace',
  InvalidRange: 'InvalidRange',
  SlowDown: 'Throttled',
  Throttling: 'Throttled',
  RequestLimitExceeded: 'Throttled',
  ServiceUnavailable: 'Throttled',
  RequestTimeout: 'Timeout',
  TimeoutError: 'Timeout',
  RequestTimeTooSkewed: 'PermissionDenied',
  // AWS answers 409 when two conditional writes race; repeating the call gives the verdict.
  ConditionalRequestConflict: 'Unavailable',
};

const BY_ERRNO: Readonly<Record<string, BlobStoreErrorCode>> = {
  ECONNRESET: 'Unavailable',
  ECONNREFUSED: 'Unavailable',
  ECONNABORTED: 'Unavailable',
  EPIPE: 'Unavailable',
  EHOSTUNREACH: 'Unavailable',
  ENETUNREACH: 'Unavailable',
  EAI_AGAIN: 'Unavailable',
  ENOTFOUND: 'Unavailable',
  ETIMEDOUT: 'Timeout',
  ESOCKETTIMEDOUT: 'Timeout',
  ERR_STREAM_PREMATURE_CLOSE: 'Unavailable',
};

function codeByStatus(status: number | undefined): BlobStoreErrorCode | undefined {
  if (status === undefined) return undefined;
  if (status === 404) return 'NotFound';
  if (status === 412) return 'AlreadyExists';
  if (status === 401 || status === 403) return 'PermissionDenied';
  if (status === 416) return 'InvalidRange';
  if (status === 408) return 'Timeout';
  if (status === 429 || status === 503) return 'Throttled';
  if (status >= 500) return 'Unavailable';
  return undefined;
}

const FIX_HINTS: Partial<Record<BlobStoreErrorCode, string>> = {
  PermissionDenied: 'check the access key, its secret and the bucket policy',
  NoSpace: 'raise the bucket or user quota',
  Unavailable: 'check that the endpoint is reachable; the call can be retried',
  Throttled: 'the server asked to slow down; the call can be retried',
};

/** Classifies an error thrown by the AWS SDK (service, network or abort) as a `BlobStoreError`. */
export function mapS3Error(err: unknown, what: string, key?: string, signal?: AbortSignal): BlobStoreError {
  if (err instanceof BlobStoreError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const code: BlobStoreErrorCode = signal?.aborted
    ? 'Aborted'
    : // errno first: the SDK renames ECONNRESET and EPIPE to "TimeoutError"
      (BY_ERRNO[e.code ?? ''] ??
      BY_NAME[e.name ?? ''] ??
      codeByStatus(e.$metadata?.httpStatusCode) ??
      (/socket hang up|timed? ?out/i.test(e.message ?? '') ? 'Unavailable' : 'Internal'));
  if (e.name === 'CredentialsProviderError') {
    // The SDK found no keys anywhere (environment, profile, instance metadata): say where they go.
    return new BlobStoreError('PermissionDenied', `${what} failed: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the bucket named by --repo / FERRY_REPOSITORY`, { key, cause: err });
  }
  const detail = e.name === 'NoSuchBucket' ? 'the bucket does not exist (create it with `ferry init`)' : describe(e);
  const hint = FIX_HINTS[code];
  return new BlobStoreError(code, `${what} failed: ${detail}${hint ? `; ${hint}` : ''}`, { key, cause: err });
}

function describe(e: SdkErrorShape): string {
  const status = e.$metadata?.httpStatusCode;
  const parts = [e.name, e.code, status === undefined ? undefined : `HTTP ${status}`].filter(Boolean);
  const message = e.message && e.message !== 'UnknownError' ? e.message : 'no detail from the server';
  return `${message} (${parts.join(', ')})`;
}
