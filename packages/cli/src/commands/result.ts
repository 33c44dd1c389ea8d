import type { ExitCodeValue } from '../exit-codes.js';

/** What every command returns to the program: the exit code it earned. */
export interface CommandResult {
  readonly exitCode: ExitCodeValue;
}
