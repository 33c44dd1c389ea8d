/**
 * A ResticMover for a repository described the way Ferry's jobs describe one (location,
 * password, S3 credentials and CA bundle). Shared by the agent, which runs backups and
 * restores, and the coordinator, which lists and forgets snapshots. Credentials go into
 * restic's environment, never its argv; a CA bundle is written to a 0600 file that
 * `dispose` removes.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ResticMover } from './mover.js';

export interface ResticS3Access {
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  readonly region?: string;
  /** PEM bundle the endpoint's certificate chains to. */
  readonly caBundlePem?: string;
}

export interface OpenResticOptions {
  /** RESTIC_REPOSITORY. */
  readonly location: string;
  readonly password: string;
  readonly s3?: ResticS3Access | undefined;
  /** restic's cache goes to `<cacheDir>/restic`, a CA bundle to `<cacheDir>/tmp`. */
  readonly cacheDir: string;
  /** Unique per use (a job id): names the CA bundle file. */
  readonly useId: string;
  /** restic binary; default `restic` from PATH. */
  readonly binary?: string | undefined;
}

export interface OpenedRestic {
  readonly mover: ResticMover;
  /** Removes what was written for this use (the CA bundle file). */
  dispose(): Promise<void>;
}

export async function openResticMover(o: OpenResticOptions): Promise<OpenedRestic> {
  const env = resticS3Environment(o.s3);
  let caFile: string | undefined;
  if (o.s3?.caBundlePem) {
    const dir = join(o.cacheDir, 'tmp');
    await mkdir(dir, { recursive: true });
    caFile = join(dir, `${o.useId}.ca.pem`);
    await writeFile(caFile, o.s3.caBundlePem, { mode: 0o600 });
    env['RESTIC_CACERT'] = caFile;
  }
  const mover = new ResticMover({ repository: o.location, password: o.password, env, cacheDir: join(o.cacheDir, 'restic'), ...(o.binary ? { binary: o.binary } : {}) });
  return { mover, dispose: async () => (caFile ? rm(caFile, { force: true }) : undefined) };
}

/** The AWS variables restic's S3 backend reads; empty when the SDK-style default chain should apply. */
function resticS3Environment(s3: ResticS3Access | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (s3?.accessKeyId) {
    env['AWS_ACCESS_KEY_ID'] = s3.accessKeyId;
    env['AWS_SECRET_ACCESS_KEY'] = s3.secretAccessKey ?? '';
    if (s3.sessionToken) env['AWS_SESSION_TOKEN'] = s3.sessionToken;
  }
  if (s3?.region) env['AWS_DEFAULT_REGION'] = s3.region;
  return env;
}
