/** Builds the mover a job names, with the job's repository, key and credentials. */
import { join } from 'node:path';
import type { Clock } from '@ferry/blobstore';
import { NativeMover, type Mover, type MoverKind } from '@ferry/mover';
import { openResticMover } from '@ferry/restic';
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
  // Tree packs of S3 repositories are cached on the node (per repository id, sealed bytes
  // only, so one tenant's cache is useless to another's key); a node-local repository is
  // already on a disk.
  const cacheDir = job.repository.location.startsWith('s3:') ? join(options.cacheDir, 'repositories') : undefined;
  const mover = new NativeMover({
    store,
    credential,
    ...(options.nativeWorkers ? { workers: options.nativeWorkers } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(cacheDir !== undefined ? { cacheDir } : {}),
  });
  return { mover, dispose: async () => undefined };
}

async function resticMover(job: JobSpec, options: MoverFactoryOptions): Promise<JobMover> {
  const key = job.repository.key;
  // parseJob already refuses cluster keys for restic; this keeps the type honest.
  const password = key.kind === 'password' ? key.password : '';
  return openResticMover({ location: job.repository.location, password, s3: job.repository.s3, cacheDir: options.cacheDir, useId: job.id, binary: options.resticBinary });
}
