import type { Readable, Writable } from 'node:stream';

/**
 * The process surroundings a command talks to. `main.ts` passes the real process
 * streams; in-process tests pass their own.
 */
export interface CliIO {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIO(): CliIO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Writes to a stream, waiting for it to drain when its buffer is full. */
export async function writeWithBackpressure(out: Writable, data: string | Uint8Array): Promise<void> {
  if (out.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      out.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      out.off('drain', onDrain);
      reject(err);
    };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}
