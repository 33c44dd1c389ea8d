import type { Writable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';
import type { TreeNode } from '@ferry/repository';
import { writeWithBackpressure } from './io.js';
import { aclText } from './posix-acl.js';

export interface TarEntry {
  /** Path inside the archive, '/'-joined, no leading '/'. */
  readonly path: string;
  readonly node: TreeNode;
}

export interface TarOptions {
  readonly entries: AsyncIterable<TarEntry>;
  /** File content of a `file` node, streamed. */
  readonly content: (node: TreeNode) => AsyncIterable<Uint8Array>;
  readonly out: Writable;
  readonly signal?: AbortSignal;
}

/**
 * Streams entries as a pax tar to `out`. Memory stays bounded: each file's content
 * flows chunk by chunk, waiting on the archive stream (and so on `out`) to drain.
 * Every entry carries a pax header with the nanosecond mtime, so the archive is pax.
 */
export async function writeTar(options: TarOptions): Promise<{ entries: number; bytes: number }> {
  const pack = tarPack();
  const consumer = drainTo(pack, options.out);
  // If the reader side dies (EPIPE), stop producing instead of waiting for a drain
  // that never comes.
  let consumerError: unknown;
  consumer.catch((err: unknown) => {
    consumerError = err;
    pack.destroy(err as Error);
  });
  const hardlinks = new Map<string, string>();
  let entries = 0;
  let bytes = 0;
  try {
    for await (const { path, node } of options.entries) {
      options.signal?.throwIfAborted();
      if (consumerError !== undefined) throw consumerError;
      const header = headerFor(path, node, hardlinks);
      if (header === undefined) continue;
      entries++;
      if (header.type === 'file') bytes += await writeFileEntry(pack, header, options.content(node), options.signal);
      else await writeEmptyEntry(pack, header);
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await consumer.catch(() => undefined);
    throw consumerError ?? err;
  }
  await consumer;
  return { entries, bytes };
}

async function drainTo(pack: Pack, out: Writable): Promise<void> {
  for await (const chunk of pack as AsyncIterable<Buffer>) await writeWithBackpressure(out, chunk);
}

type Header = Parameters<Pack['entry']>[0];

function headerFor(path: string, node: TreeNode, hardlinks: Map<string, string>): Header | undefined {
  const base = {
    name: node.type === 'dir' ? `${path}/` : path,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    mtime: ustarTime(node.mtimeNs),
    pax: paxRecords(node),
  };
  switch (node.type) {
    case 'dir':
      return { ...base, type: 'directory' };
    case 'symlink':
      return { ...base, type: 'symlink', linkname: (node.target ?? Buffer.alloc(0)).toString('utf8') };
    case 'fifo':
      return { ...base, type: 'fifo' };
    case 'chardev':
    case 'blockdev':
      return { ...base, type: node.type === 'chardev' ? 'character-device' : 'block-device', ...deviceNumbers(node.rdev ?? 0n) };
    case 'socket':
      return undefined; // tar has no socket type; neither has GNU tar
    case 'file': {
      if (node.links > 1) {
        const key = `${node.device}:${node.inode}`;
        const first = hardlinks.get(key);
        if (first !== undefined) return { ...base, type: 'link', linkname: first, size: 0 };
        hardlinks.set(key, path);
      }
      return { ...base, type: 'file', size: node.size ?? 0 };
    }
  }
}

/**
 * Nanosecond times, and extended attributes and ACLs in the SCHILY records GNU tar reads
 * with `--xattrs --xattrs-include='*' --acls`. pax records are UTF-8 text: an attribute
 * whose value is not UTF-8 cannot travel in a dump (ferry restore keeps it).
 */
function paxRecords(node: TreeNode): Record<string, string> {
  const pax: Record<string, string> = { mtime: paxTime(node.mtimeNs) };
  if (node.atimeNs !== undefined) pax['atime'] = paxTime(node.atimeNs);
  for (const x of node.xattrs ?? []) {
    const acl = x.name.startsWith('system.posix_acl_') ? aclText(x.value) : undefined;
    if (x.name === 'system.posix_acl_access' && acl !== undefined) pax['SCHILY.acl.access'] = acl;
    else if (x.name === 'system.posix_acl_default' && acl !== undefined) pax['SCHILY.acl.default'] = acl;
    else if (isUtf8(x.value)) pax[`SCHILY.xattr.${x.name}`] = x.value.toString('utf8');
  }
  return pax;
}

function isUtf8(value: Buffer): boolean {
  return Buffer.from(value.toString('utf8'), 'utf8').equals(value);
}

/**
 * The ustar header's own mtime, for readers that ignore pax: tar-stream writes it as a
 * 32-bit signed number, so a time outside 1970..2038 is clamped there (pax keeps the truth).
 */
function ustarTime(ns: bigint): Date {
  const seconds = ns / 1_000_000_000n;
  const clamped = seconds < 0n ? 0n : seconds > 0x7fffffffn ? 0x7fffffffn : seconds;
  return new Date(Number(clamped) * 1000);
}

/** pax `mtime` keeps the nanoseconds that the ustar octal field drops. */
function paxTime(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const abs = ns < 0n ? -ns : ns;
  return `${sign}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, '0')}`;
}

/** Linux's encoding of dev_t (glibc gnu_dev_major/minor). */
function deviceNumbers(rdev: bigint): { devmajor: number; devminor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { devmajor: Number(major), devminor: Number(minor) };
}

async function writeEmptyEntry(pack: Pack, header: Header): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
}

async function writeFileEntry(
  pack: Pack,
  header: Header,
  content: AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<number> {
  let written = 0;
  let done!: Promise<void>;
  const sink = await new Promise<ReturnType<Pack['entry']>>((resolveSink) => {
    done = new Promise<void>((resolve, reject) => {
      resolveSink(pack.entry(header, (err) => (err ? reject(err) : resolve())));
    });
  });
  done.catch(() => undefined); // observed below; avoids an unhandled rejection meanwhile
  try {
    for await (const chunk of content) {
      signal?.throwIfAborted();
      written += chunk.byteLength;
      if (!sink.write(chunk)) await waitDrain(sink);
    }
    sink.end(undefined); // streamx types demand an argument
  } catch (err) {
    sink.destroy(err as Error);
    throw err;
  }
  await done;
  return written;
}

function waitDrain(sink: NodeJS.EventEmitter): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      sink.off('drain', onDrain);
      sink.off('error', onError);
      sink.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('tar stream closed while writing'));
    };
    sink.on('drain', onDrain);
    sink.on('error', onError);
    sink.on('close', onClose);
  });
}
