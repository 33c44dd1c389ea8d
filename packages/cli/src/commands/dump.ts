import type { Writable } from 'node:stream';
import type { Repository, TreeNode } from '@ferry/repository';
import { CliError, ExitCode } from '../exit-codes.js';
import { writeWithBackpressure } from '../io.js';
import type { TarEntry } from '../tar-writer.js';
import type { CommandResult } from './result.js';

export interface DumpCommandOptions {
  readonly repository: Repository;
  readonly out: Writable;
  readonly snapshot: string;
  /** Path inside the snapshot; `/` dumps the whole snapshot as a tar. */
  readonly path: string;
  readonly signal?: AbortSignal;
}

/** A file's raw content, or a directory as a pax tar, streamed to `out`. */
export async function dumpCommand(options: DumpCommandOptions): Promise<CommandResult> {
  const { repository, signal } = options;
  const snapshot = await repository.resolveSnapshot(options.snapshot);
  const target = normalizePath(options.path);
  const iterator = repository.walk(snapshot, target === '' ? undefined : target)[Symbol.asyncIterator]();
  const first = await iterator.next();
  const firstEntry = first.done === true ? undefined : first.value;
  const content = (node: TreeNode): AsyncIterable<Uint8Array> =>
    repository.readFile(node, signal !== undefined ? { signal } : {});

  if (firstEntry !== undefined && firstEntry.path === target) {
    const { node } = firstEntry;
    if (node.type === 'file') {
      for await (const chunk of content(node)) await writeWithBackpressure(options.out, chunk);
      return { exitCode: ExitCode.ok };
    }
    if (node.type !== 'dir') {
      throw new CliError(`/${target} in snapshot ${snapshot.id.slice(0, 8)} is a ${node.type}, not a file or directory`);
    }
  }
  const { writeTar } = await import('../tar-writer.js');
  await writeTar({
    entries: prepend(firstEntry, iterator),
    content,
    out: options.out,
    ...(signal !== undefined ? { signal } : {}),
  });
  return { exitCode: ExitCode.ok };
}

function normalizePath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new CliError(`path "${path}" must not contain ".."`);
  return parts.join('/');
}

async function* prepend(first: TarEntry | undefined, rest: AsyncIterator<TarEntry>): AsyncIterable<TarEntry> {
  if (first !== undefined) yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    yield next.value;
  }
}
