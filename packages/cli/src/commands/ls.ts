import type { Writable } from 'node:stream';
import type { Repository, TreeNode } from '@ferry/repository';
import { ExitCode } from '../exit-codes.js';
import { writeWithBackpressure } from '../io.js';
import type { Reporter } from '../reporter.js';
import { formatMode } from '../units.js';
import type { CommandResult } from './result.js';

export interface LsCommandOptions {
  readonly repository: Repository;
  readonly reporter: Reporter;
  readonly out: Writable;
  readonly snapshot: string;
  readonly path?: string;
  /** `ls -l` style lines instead of bare paths. */
  readonly long?: boolean;
  readonly signal?: AbortSignal;
}

export async function lsCommand(options: LsCommandOptions): Promise<CommandResult> {
  const snapshot = await options.repository.resolveSnapshot(options.snapshot);
  const json = options.reporter.mode === 'json';
  if (json) options.reporter.record({ type: 'snapshot', id: snapshot.id, time: snapshot.time.toISOString(), paths: snapshot.paths });
  let entries = 0;
  for await (const { path, node } of options.repository.walk(snapshot, options.path)) {
    options.signal?.throwIfAborted();
    entries++;
    const shown = `/${path}`;
    if (json) options.reporter.record({ type: 'node', path: shown, ...nodeJson(node) });
    else await writeWithBackpressure(options.out, `${options.long === true ? longLine(shown, node) : shown}\n`);
  }
  if (json) options.reporter.summary({ command: 'ls', snapshotId: snapshot.id, entries }, []);
  return { exitCode: ExitCode.ok };
}

export function nodeJson(node: TreeNode): Record<string, unknown> {
  return {
    nodeType: node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    size: node.size ?? null,
    mtime: nsToIso(node.mtimeNs),
    ...(node.target !== undefined ? { target: node.target.toString('utf8') } : {}),
  };
}

function longLine(path: string, node: TreeNode): string {
  const size = String(node.size ?? 0).padStart(12);
  const target = node.target !== undefined ? ` -> ${node.target.toString('utf8')}` : '';
  return `${formatMode(node.type, node.mode)} ${String(node.uid).padStart(5)} ${String(node.gid).padStart(5)} ${size} ${nsToIso(node.mtimeNs)} ${path}${target}`;
}

function nsToIso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}
