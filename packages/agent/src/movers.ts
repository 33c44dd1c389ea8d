/** Builds the mover a job names, with the job's repository, key and credentials. */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '@ferry/blobstore';
import { NativeMover, type Mover, type MoverKind } from '@ferry/mover';
import { ResticMover } from '@ferry/restic';
import type { JobSpec } from './job-spec.js';
import type { AgentMetrics } from './metrics.js';
import { openJobStore } from './store.js';

export interface MoverFactoryOptions {
  readonly cacheDir: string;
  readonly metrics: AgentMetrics;
  readonly clock?: Clock;
  /** restic binary; default `restic` from PATH. */
  readonly resticBinary?: string;
  /** Worker threads per native job; default: available cores. */
  readonly nativeWorkers?: number;
}

export interface JobMover {
  readonly mover: Mover;
  /** Removes what the mover needed on disk for this job (a CA bundle file). */
  dispose(): Promise<void>;
}

export type MoverFactory = (job: JobSpec) => Promise<JobMover>;

/** The movers this agent can run, for its hello. */
export const AVAILABLE_MOVERS: readonly MoverKind[] = ['native', 'restic'];

export function moverFactory(options: MoverFactoryOptions): MoverFactory {
  return (job) => (job.mover === 'native' ? nativeMover(job, options) : resticMover(job, options));
}

async function nativeMover(job: JobSpec, options: MoverFactoryOptions): Promise<JobMover> {
  const store = openJobStore({ repository: job.repository, metrics: options.metrics, ...(options.clock ? { clock: options.clock } : {}) });
  const key = job.repository.key;
  const credential = key.kind === 'cluster' ? { kind: 'cluster' as const, key: key.key } : { kind: 'password' as const, password: key.password };
  const mover = new NativeMover({ store, credential, ...(options.nativeWorkers ? { workers: options.nativeWorkers } : {}), ...(options.clock ? { clock: options.clock } : {}) });
  return { mover, dispose: async () => undefined };
}

async function resticMover(job: JobSpec, options: MoverFactoryOptions): Promise<JobMover> {
  const key = job.repository.key;
  // parseJob already refuses cluster keys for restic; this keeps the type honest.
  const password = key.kind === 'password' ? key.password : '';
  const s3 = job.repository.s3;
  const env: Record<string, string> = {};
  if (s3?.accessKeyId) {
    env['AWS_ACCESS_KEY_ID'] = s3.accessKeyId;
    env['AWS_SECRET_ACCESS_KEY'] = s3.secretAccessKey;
    if (s3.sessionToken) env['AWS_SESSION_TOKEN'] = s3.sessionToken;
  }
  if (s3?.region) env['AWS_DEFAULT_REGION'] = s3.region;
  let caFile: string | undefined;
  if (s3?.caBundlePem) {
    const dir = join(options.cacheDir, 'tmp');
    await mkdir(dir, { recursive: true });
    caFile = join(dir, `${job.id}.ca.pem`);
    await writeFile(caFile, s3.caBundlePem, { mode: 0o600 });
    env['RESTIC_CACERT'] = caFile;
  }
  const mover = new ResticMover({
    repository: job.repository.location,
    password,
    env,
    cacheDir: join(options.cacheDir, 'restic'),
    ...(options.resticBinary ? { binary: options.resticBinary } : {}),
  });
  return { mover, dispose: async () => (caFile ? rm(caFile, { force: true }) : undefined) };
}
