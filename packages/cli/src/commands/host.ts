import type { Command } from 'commander';
import type { Repository } from '@ferry/repository';
import type { CliIO } from '../io.js';
import type { Reporter } from '../reporter.js';
import type { GlobalOptions, SessionOptions } from '../session.js';
import type { CommandResult } from './result.js';

/**
 * What program.ts lends a command module that registers itself: the per-run plumbing
 * (reporter, session options, the repository opened and closed, the exit code).
 */
export interface CommandHost {
  readonly io: CliIO;
  readonly signal?: AbortSignal;
  prepare(command: Command): { global: GlobalOptions; reporter: Reporter; session: SessionOptions };
  withRepository(command: Command, body: (repository: Repository, reporter: Reporter, global: GlobalOptions) => Promise<CommandResult>): Promise<void>;
  setExit(code: number): void;
}
