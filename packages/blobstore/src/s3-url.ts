import { BlobStoreError } from './blobstore.js';
import type { S3StoreOptions } from './s3-store.js';

export type S3Location = Pick<S3StoreOptions, 'bucket' | 'prefix' | 'endpoint' | 'forcePathStyle'>;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `s3:http(s)://host[:port]/bucket[/prefix]` (restic's form; `s3:host/bucket` means
 * https). `s3.amazonaws.com` selects AWS with its default endpoint. Credentials never
 * belong in the URL: they come from options or the SDK's environment chain.
 */
export function parseS3Url(url: string): S3Location {
  if (!url.startsWith('s3:')) throw invalid(url, 'it does not start with "s3:"');
  const rest = url.slice(3);
  const withScheme = /^https?:\/\//.test(rest) ? rest : `https://${rest}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw invalid(url, 'it is not a URL');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw invalid(url, 'it carries credentials; pass them as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY instead');
  }
  if (parsed.search !== '' || parsed.hash !== '') throw invalid(url, 'it has a query or fragment');
  const [bucket = '', ...prefixParts] = parsed.pathname.split('/').filter((p) => p !== '');
  if (!BUCKET_NAME.test(bucket)) throw invalid(url, `"${bucket}" is not a valid bucket name`);
  const prefix = prefixParts.join('/');
  if (prefixParts.some((p) => p === '.' || p === '..')) throw invalid(url, 'its prefix has a "." or ".." segment');
  if (parsed.hostname === 's3.amazonaws.com') return { bucket, prefix, forcePathStyle: false };
  return { bucket, prefix, endpoint: `${parsed.protocol}//${parsed.host}`, forcePathStyle: true };
}

function invalid(url: string, why: string): BlobStoreError {
  // Userinfo is redacted in case someone put a secret in the URL anyway.
  const shown = url.replace(/\/\/[^/@]*@/, '//<redacted>@');
  return new BlobStoreError('InvalidArgument', `invalid S3 URL ${shown}: ${why}; expected s3:https://host[:port]/bucket[/prefix]`);
}
