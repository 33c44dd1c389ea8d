import type { Writable } from 'node:stream';
import type { Repository } from '@ferry/repository';
import { CliError, ExitCode } from '../exit-codes.js';
import { writeWithBackpressure } from '../io.js';
import type { CommandResult } from './result.js';
import { snapshotJson } from './snapshots.js';

export interface CatCommandOptions {
  readonly repository: Repository;
  readonly out: Writable;
  /** `config` or `snapshot`. */
  readonly what: string;
  readonly id?: string;
  /** One compact line instead of indented JSON. */
  readonly compact?: boolean;
}

export async function catCommand(options: CatCommandOptions): Promise<CommandResult> {
  const value = await objectFor(options);
  const text = options.compact === true ? JSON.stringify(value) : JSON.stringify(value, null, 2);
  await writeWithBackpressure(options.out, `${text}\n`);
  return { exitCode: ExitCode.ok };
}

async function objectFor(options: CatCommandOptions): Promise<Record<string, unknown>> {
  if (options.what === 'config') {
    if (options.id !== undefined) throw new CliError('"cat config" takes no ID');
    return options.repository.configJson();
  }
  if (options.what === 'snapshot') {
    if (options.id === undefined) throw new CliError('"cat snapshot" needs a snapshot ID (or "latest")');
    return snapshotJson(await options.repository.resolveSnapshot(options.id));
  }
  throw new CliError(`cannot cat "${options.what}": use "cat config" or "cat snapshot ID"`);
}
