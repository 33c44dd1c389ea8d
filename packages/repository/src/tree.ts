/**
 * Tree blobs (docs/repository-format.md §7): JSON lists of nodes, at most
 * TREE_CHUNK_NODES per blob, sorted by name bytes. Written as version 2; version 1 trees
 * (no atime, extents or xattrs) are still read.
 */
import type { FileExtent, NodeType, TreeNode, Xattr } from './api.js';
import { RepositoryError } from './errors.js';

export const TREE_CHUNK_NODES = 4096;
export const TREE_VERSION = 2;
const NODE_TYPES: ReadonlySet<string> = new Set(['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev']);

interface StoredNode {
  name?: string;
  nameRaw?: string;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  ctimeNs: string;
  inode: string;
  device: string;
  links: number;
  size?: number;
  content?: string[];
  subtrees?: string[];
  target?: string;
  targetRaw?: string;
  rdev?: string;
  atimeNs?: string;
  extents?: [number, number][];
  xattrs?: { name: string; value: string }[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Returns the string if the bytes are UTF-8 that round-trips exactly, else undefined. */
function exactUtf8(bytes: Buffer): string | undefined {
  // Most names are ASCII: no decoder, no round trip needed.
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return bytes.toString('latin1');
  try {
    const s = utf8.decode(bytes);
    return Buffer.from(s, 'utf8').equals(bytes) ? s : undefined;
  } catch {
    return undefined;
  }
}

const idList = (ids: readonly string[]): string => (ids.length === 0 ? '[]' : `["${ids.join('","')}"]`);

/**
 * One node as JSON, written out field by field: this is the archiver's hottest path on
 * trees of small files. The output is exactly what JSON.stringify gives for the fields
 * of StoredNode in this order (pinned by the golden tests); ids are hex and need no escaping.
 */
function nodeJson(node: TreeNode): string {
  const name = exactUtf8(node.name);
  let out = name !== undefined ? `{"name":${JSON.stringify(name)}` : `{"nameRaw":"${node.name.toString('base64')}"`;
  out += `,"type":"${node.type}","mode":${node.mode},"uid":${node.uid},"gid":${node.gid}`;
  out += `,"mtimeNs":"${node.mtimeNs}","ctimeNs":"${node.ctimeNs}","inode":"${node.inode}","device":"${node.device}","links":${node.links}`;
  if (node.size !== undefined) out += `,"size":${node.size}`;
  if (node.content) out += `,"content":${idList(node.content)}`;
  if (node.subtrees) out += `,"subtrees":${idList(node.subtrees)}`;
  if (node.target) {
    const t = exactUtf8(node.target);
    out += t !== undefined ? `,"target":${JSON.stringify(t)}` : `,"targetRaw":"${node.target.toString('base64')}"`;
  }
  if (node.rdev !== undefined) out += `,"rdev":"${node.rdev}"`;
  if (node.atimeNs !== undefined) out += `,"atimeNs":"${node.atimeNs}"`;
  if (node.extents) out += `,"extents":[${node.extents.map((e) => `[${e.offset},${e.length}]`).join(',')}]`;
  if (node.xattrs && node.xattrs.length > 0) {
    out += `,"xattrs":[${node.xattrs.map((x) => `{"name":${JSON.stringify(x.name)},"value":"${x.value.toString('base64')}"}`).join(',')}]`;
  }
  return out + '}';
}

export function compareNames(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

/** Encodes one tree blob; `nodes` must already be sorted and at most TREE_CHUNK_NODES. */
export function encodeTreeBlob(nodes: readonly TreeNode[]): Buffer {
  return Buffer.from(`{"v":${TREE_VERSION},"nodes":[${nodes.map(nodeJson).join(',')}]}`, 'utf8');
}

export function isSafeName(name: Buffer): boolean {
  if (name.length === 0) return false;
  if (name.length <= 2 && (name.equals(DOT) || name.equals(DOTDOT))) return false;
  return !name.includes(0x2f) && !name.includes(0x00);
}
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

function bigintField(v: unknown, field: string, where: string): bigint {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw corrupt(where, `field ${field} is not a decimal string`);
  return BigInt(v);
}

function corrupt(where: string, what: string): RepositoryError {
  return new RepositoryError('Corrupt', `tree ${where}: ${what}`);
}

function extentsField(v: unknown, where: string): FileExtent[] {
  const ok = Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2 && Number.isSafeInteger(e[0]) && Number.isSafeInteger(e[1]) && e[0] >= 0 && e[1] > 0);
  if (!ok) throw corrupt(where, 'field extents is not a list of [offset, length] pairs');
  const extents = (v as [number, number][]).map(([offset, length]) => ({ offset, length }));
  for (let i = 1; i < extents.length; i++) {
    const prev = extents[i - 1]!;
    if (extents[i]!.offset < prev.offset + prev.length) throw corrupt(where, 'extents overlap or are out of order');
  }
  return extents;
}

function xattrsField(v: unknown, where: string): Xattr[] {
  const ok = Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && typeof x.name === 'string' && x.name !== '' && typeof x.value === 'string');
  if (!ok) throw corrupt(where, 'field xattrs is not a list of {name, value}');
  return (v as { name: string; value: string }[]).map((x) => ({ name: x.name, value: Buffer.from(x.value, 'base64') }));
}

/** The fields format v2 added; absent in v1 nodes, where file holes were not recorded. */
function v2Fields(s: StoredNode, version: number, where: string): Partial<TreeNode> {
  if (version === 1) return s.type === 'file' ? { legacyHoles: true } : {};
  return {
    ...(s.atimeNs !== undefined ? { atimeNs: bigintField(s.atimeNs, 'atimeNs', where) } : {}),
    ...(s.extents !== undefined ? { extents: extentsField(s.extents, where) } : {}),
    ...(s.xattrs !== undefined ? { xattrs: xattrsField(s.xattrs, where) } : {}),
  };
}

function fromStored(s: StoredNode, version: number, where: string): TreeNode {
  if (!NODE_TYPES.has(s.type)) throw corrupt(where, `unknown node type ${String(s.type)}`);
  const name = s.name !== undefined ? Buffer.from(s.name, 'utf8') : Buffer.from(s.nameRaw ?? '', 'base64');
  if (!isSafeName(name)) throw corrupt(where, `unsafe entry name ${JSON.stringify(name.toString('utf8'))}`);
  const target = s.target !== undefined ? Buffer.from(s.target, 'utf8') : s.targetRaw !== undefined ? Buffer.from(s.targetRaw, 'base64') : undefined;
  return {
    name,
    type: s.type,
    mode: Number(s.mode) & 0o7777,
    uid: Number(s.uid),
    gid: Number(s.gid),
    mtimeNs: bigintField(s.mtimeNs, 'mtimeNs', where),
    ctimeNs: bigintField(s.ctimeNs, 'ctimeNs', where),
    inode: bigintField(s.inode, 'inode', where),
    device: bigintField(s.device, 'device', where),
    links: Number(s.links),
    ...(s.size !== undefined ? { size: Number(s.size) } : {}),
    ...(s.content ? { content: s.content } : {}),
    ...(s.subtrees ? { subtrees: s.subtrees } : {}),
    ...(target ? { target } : {}),
    ...(s.rdev !== undefined ? { rdev: bigintField(s.rdev, 'rdev', where) } : {}),
    ...v2Fields(s, version, where),
  };
}

export function decodeTreeBlob(raw: Buffer, where: string): TreeNode[] {
  let parsed: { v?: unknown; nodes?: unknown };
  try {
    parsed = JSON.parse(raw.toString('utf8')) as { v?: unknown; nodes?: unknown };
  } catch {
    throw corrupt(where, 'not valid JSON');
  }
  const version = parsed.v;
  if (typeof version === 'number' && version > TREE_VERSION) throw corrupt(where, `tree format version ${version} is newer than this Ferry reads (${TREE_VERSION}); upgrade Ferry`);
  if ((version !== 1 && version !== 2) || !Array.isArray(parsed.nodes)) throw corrupt(where, 'not a version 1 or 2 tree');
  const nodes = (parsed.nodes as StoredNode[]).map((n) => fromStored(n, version, where));
  // Strictly increasing names: a duplicate could let a hostile tree put a symlink and a
  // directory at one path and trick the restorer into writing through the link.
  for (let i = 1; i < nodes.length; i++) {
    if (compareNames(nodes[i - 1]!.name, nodes[i]!.name) >= 0) throw corrupt(where, 'entry names are not unique and sorted');
  }
  return nodes;
}
