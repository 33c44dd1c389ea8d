import { readFile } from 'node:fs/promises';
import { CliError } from './exit-codes.js';
import type { CliIO } from './io.js';

export interface PasswordOptions {
  readonly io: CliIO;
  readonly passwordFile?: string;
  /** init asks twice on a TTY so a typo does not lock the data away. */
  readonly confirm: boolean;
  readonly signal?: AbortSignal;
}

/** Password from FERRY_PASSWORD, --password-file, or a prompt with echo off on a TTY. */
export async function readPassword(options: PasswordOptions): Promise<string> {
  const { io } = options;
  if (options.passwordFile !== undefined) return readPasswordFile(options.passwordFile);
  const fromEnv = io.env['FERRY_PASSWORD'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (io.stdin.isTTY !== true || typeof io.stdin.setRawMode !== 'function') {
    throw new CliError('no password given: set FERRY_PASSWORD or pass --password-file FILE');
  }
  const first = await promptHidden(io, 'Repository password: ', options.signal);
  if (first === '') throw new CliError('empty password refused');
  if (!options.confirm) return first;
  const second = await promptHidden(io, 'Repeat password: ', options.signal);
  if (first !== second) throw new CliError('the passwords did not match; nothing was created');
  return first;
}

async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(`cannot read password file ${path} (${code}): check the path and its permissions`);
  }
  // Files written by `echo` end in a newline that is not part of the password.
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new CliError(`password file ${path} is empty`);
  return password;
}

/** Reads one line from a raw-mode TTY without echoing it. */
export function promptHidden(io: CliIO, prompt: string, signal?: AbortSignal): Promise<string> {
  const { stdin, stderr } = io;
  stderr.write(prompt);
  return new Promise<string>((resolve, reject) => {
    let typed = '';
    const finish = (err?: Error): void => {
      stdin.setRawMode?.(false);
      stdin.off('data', onData);
      signal?.removeEventListener('abort', onAbort);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onAbort = (): void => finish(Object.assign(new Error('password prompt interrupted'), { code: 'Canceled' }));
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(Object.assign(new Error('interrupted'), { code: 'Canceled' }));
        if (ch === '\u0004' && typed === '') return finish(new CliError('no password entered'));
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else if (ch >= ' ') typed += ch;
      }
    };
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.on('data', onData);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
