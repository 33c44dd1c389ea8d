import { Repository, type Credential } from '@ferry/repository';
import type { BlobStore } from '@ferry/blobstore';
import { ExitCode } from '../exit-codes.js';
import type { Reporter } from '../reporter.js';
import type { CommandResult } from './result.js';

export interface InitCommandOptions {
  readonly store: BlobStore;
  readonly credential: Credential;
  readonly reporter: Reporter;
  /** Label of the first key slot, e.g. the host name. */
  readonly label: string;
}

export async function initCommand(options: InitCommandOptions): Promise<CommandResult> {
  const { id } = await Repository.init({ store: options.store, credential: options.credential, label: options.label });
  options.reporter.summary({ command: 'init', id, repository: options.store.description }, [
    `created repository ${id} at ${options.store.description}`,
    'Keep the password safe: without it the data cannot be read back.',
  ]);
  return { exitCode: ExitCode.ok };
}
