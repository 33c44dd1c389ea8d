/**
 * Pins the on-disk format of docs/repository-format.md: if any expectation here changes,
 * existing repositories become unreadable. Change only with a format version bump and a
 * reader for the old version.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { AAD, contentId, deriveSubkeys, open, seal } from './crypto.js';
import { BlobCodec, BLOB_DATA } from './blob-codec.js';
import { decodePackHeader, PackBuilder } from './pack.js';
import { decodeTreeBlob, encodeTreeBlob } from './tree.js';
import type { TreeNode } from './api.js';
import { gearTable } from './chunker.js';

const master = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
const repoId = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const keys = deriveSubkeys(master, repoId);

describe('format v1 golden values', () => {
  it('derives the subkeys with HKDF-SHA-256 and the documented labels', () => {
    expect(Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, (v as Buffer).toString('hex')]))).toMatchInlineSnapshot(`
      {
        "blob": "50375f16f840387461aea194b17392ad5bd3ddb9462ac3df5ed6a6d05c7e83ff",
        "config": "171ad995d6e6ae20c8e21ebff5cf6274f7b637d919d870bd70bec353aa235579",
        "gear": "6bf369a023664a5f1a022de3629f9ad9ff00154ca1e4c44882996f934dee54a7",
        "id": "1a4b6252f95fb6937344829ecd3a11c055861bca841668b783518c24b3733077",
        "object": "57ba4e2678aabb6c94db95ad735eb85926fbab284f5e5201fb9fd09a20a7ae63",
      }
    `);
  });

  it('computes content ids as HMAC-SHA-256 under K_id', () => {
    expect(contentId(keys.id, Buffer.from('hello ferry')).toString('hex')).toMatchInlineSnapshot(`"03a9999769a84a1432b952072de43159fe178baef9eed565fe1e53c210601350"`);
  });

  it('derives the gear table from K_gear', () => {
    const gear = gearTable(keys.gear);
    expect([gear[0], gear[1], gear[255]]).toMatchInlineSnapshot(`
      [
        1166564460,
        779381503,
        3062705670,
      ]
    `);
  });

  it('lays out a sealed box as salt || ciphertext || tag with the per-salt key', () => {
    const salt = Buffer.alloc(16, 7);
    const sealed = seal(keys.object, AAD.snapshot, [Buffer.from('{"v":1}')], salt);
    expect(sealed.toString('hex')).toMatchInlineSnapshot(`"070707070707070707070707070707076a7d9d653bee01dbf700db71b00ae9d7a891980526e39f"`);
    expect(sealed.subarray(0, 16)).toEqual(salt);
    expect(sealed.length).toBe(16 + 7 + 16);
    expect(open(keys.object, AAD.snapshot, sealed)?.toString()).toBe('{"v":1}');
    expect(open(keys.object, AAD.index, sealed)).toBeUndefined();
  });

  it('reads a blob sealed by format v1 (encoding byte inside the box, aad binds type and id)', () => {
    const codec = new BlobCodec(keys);
    const raw = Buffer.from('x'.repeat(1000));
    const id = codec.id(raw);
    const golden = Buffer.from(
      seal(keys.blob, AAD.blob(BLOB_DATA, id), [Buffer.from([0]), raw], Buffer.alloc(16, 1)).toString('hex'),
      'hex',
    );
    expect(createHash('sha256').update(golden).digest('hex')).toMatchInlineSnapshot(`"8a4b1702573bf9062e6f63d28ba953d93ec27c1ca3c597e7378de895e873a2f5"`);
    expect(codec.decode(BLOB_DATA, id, golden)).toEqual(raw);
    expect(codec.decode(1, id, golden)).toMatch(/authentication failed/);
    const stored = codec.encode(BLOB_DATA, raw);
    expect(stored.sealed.length).toBeLessThan(raw.length);
    expect(codec.decode(BLOB_DATA, id, stored.sealed)).toEqual(raw);
  });

  it('writes packs as blobs || sealed header || u32le header length, named by the header hash', () => {
    const b = new PackBuilder(BLOB_DATA);
    b.add(Buffer.alloc(32, 0xaa), Buffer.alloc(50, 1), 40);
    b.add(Buffer.alloc(32, 0xbb), Buffer.alloc(70, 2), 60);
    const pack = b.finish(keys.object);
    // The pack is handed to the store as its parts; the stored object is their concatenation.
    const bytes = Buffer.concat(pack.parts);
    expect(pack.size).toBe(bytes.length);
    const headerLen = bytes.readUInt32LE(bytes.length - 4);
    expect(headerLen).toBe(16 + 8 + 2 * 45 + 16);
    const header = bytes.subarray(bytes.length - 4 - headerLen, bytes.length - 4);
    expect(pack.id).toEqual(createHash('sha256').update(header).digest());
    const decoded = decodePackHeader(keys.object, header, bytes.length);
    expect(decoded.ok && decoded.entries.map((e) => [e.id[0], e.offset, e.length, e.rawLength])).toEqual([
      [0xaa, 0, 50, 40],
      [0xbb, 50, 70, 60],
    ]);
  });

  it('encodes tree nodes as documented JSON and rejects hostile trees', () => {
    const node = {
      name: Buffer.from('a'),
      type: 'file' as const,
      mode: 0o644,
      uid: 1000,
      gid: 1000,
      mtimeNs: 1_700_000_000_123_456_789n,
      ctimeNs: 1_700_000_000_123_456_789n,
      inode: 42n,
      device: 2049n,
      links: 1,
      size: 3,
      content: ['ab'.repeat(32)],
    };
    const raw = encodeTreeBlob([node, { ...node, name: Buffer.from([0xff, 0x2e]), content: [] }]);
    expect(raw.toString()).toMatchInlineSnapshot(`"{"v":2,"nodes":[{"name":"a","type":"file","mode":420,"uid":1000,"gid":1000,"mtimeNs":"1700000000123456789","ctimeNs":"1700000000123456789","inode":"42","device":"2049","links":1,"size":3,"content":["abababababababababababababababababababababababababababababababab"]},{"nameRaw":"/y4=","type":"file","mode":420,"uid":1000,"gid":1000,"mtimeNs":"1700000000123456789","ctimeNs":"1700000000123456789","inode":"42","device":"2049","links":1,"size":3,"content":[]}]}"`);
    expect(decodeTreeBlob(raw, 't')[1]!.name).toEqual(Buffer.from([0xff, 0x2e]));
    for (const bad of ['..', '.', 'a/b', '']) {
      expect(() => decodeTreeBlob(encodeTreeBlob([{ ...node, name: Buffer.from(bad) }]), 't')).toThrow(/unsafe entry name/);
    }
    expect(() => decodeTreeBlob(encodeTreeBlob([node, { ...node, type: 'symlink', target: Buffer.from('/etc') }]), 't')).toThrow(/unique and sorted/);
  });

  it('encodes the v2 fields: atime, data extents of a sparse file, extended attributes', () => {
    const node: TreeNode = {
      name: Buffer.from('disk.img'),
      type: 'file',
      mode: 0o600,
      uid: 0,
      gid: 0,
      mtimeNs: -1_000_000_001n,
      ctimeNs: 4_102_444_800_000_000_001n,
      inode: 7n,
      device: 2049n,
      links: 1,
      size: 1 << 30,
      content: ['ab'.repeat(32)],
      atimeNs: 1_700_000_000_000_000_123n,
      extents: [
        { offset: 4096, length: 8192 },
        { offset: 1 << 29, length: 4096 },
      ],
      xattrs: [
        { name: 'system.posix_acl_access', value: Buffer.from([2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255]) },
        { name: 'user.mime_type', value: Buffer.from('application/x-raw') },
      ],
    };
    const raw = encodeTreeBlob([node]);
    expect(raw.toString()).toMatchInlineSnapshot(`"{"v":2,"nodes":[{"name":"disk.img","type":"file","mode":384,"uid":0,"gid":0,"mtimeNs":"-1000000001","ctimeNs":"4102444800000000001","inode":"7","device":"2049","links":1,"size":1073741824,"content":["abababababababababababababababababababababababababababababababab"],"atimeNs":"1700000000000000123","extents":[[4096,8192],[536870912,4096]],"xattrs":[{"name":"system.posix_acl_access","value":"AgAAAAEABgD/////"},{"name":"user.mime_type","value":"YXBwbGljYXRpb24veC1yYXc="}]}]}"`);
    expect(decodeTreeBlob(raw, 't')).toEqual([node]);
    const bad = (patch: string): Buffer => Buffer.from(raw.toString().replace(/"extents":\[.*?\]\]/, patch));
    expect(() => decodeTreeBlob(bad('"extents":[[8192,10],[0,10]]'), 't')).toThrow(/out of order/);
    expect(() => decodeTreeBlob(bad('"extents":[[0,-1]]'), 't')).toThrow(/offset, length/);
    expect(() => decodeTreeBlob(Buffer.from(raw.toString().replace('"v":2', '"v":3')), 't')).toThrow(/version 3 is newer.*upgrade Ferry/);
  });

  it('still reads a tree written by format v1 (no atime, extents or xattrs; holes unknown)', () => {
    // Written by Ferry before format v2; the bytes must stay readable forever.
    const v1 =
      '{"v":1,"nodes":[{"name":"d","type":"dir","mode":493,"uid":0,"gid":0,"mtimeNs":"1700000000123456789","ctimeNs":"1700000000123456789","inode":"2","device":"2049","links":2,"subtrees":["cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"]},' +
      '{"name":"f","type":"file","mode":420,"uid":1000,"gid":1000,"mtimeNs":"1700000000123456789","ctimeNs":"1700000000123456789","inode":"42","device":"2049","links":1,"size":3,"content":["abababababababababababababababababababababababababababababababab"]},' +
      '{"name":"p","type":"fifo","mode":420,"uid":0,"gid":0,"mtimeNs":"5","ctimeNs":"5","inode":"43","device":"2049","links":1}]}';
    const nodes = decodeTreeBlob(Buffer.from(v1), 'v1');
    expect(nodes.map((n) => [n.name.toString(), n.type, n.mtimeNs, n.atimeNs, n.extents, n.xattrs, n.legacyHoles])).toEqual([
      ['d', 'dir', 1_700_000_000_123_456_789n, undefined, undefined, undefined, undefined],
      ['f', 'file', 1_700_000_000_123_456_789n, undefined, undefined, undefined, true],
      ['p', 'fifo', 5n, undefined, undefined, undefined, undefined],
    ]);
    expect(nodes[1]!.content).toEqual(['ab'.repeat(32)]);
  });
});

describe('tree encoding', () => {
  /** The reference: JSON.stringify over the documented fields in their documented order. */
  function reference(nodes: TreeNode[]): string {
    const utf8 = (b: Buffer): string | undefined => {
      try {
        const s = new TextDecoder('utf-8', { fatal: true }).decode(b);
        return Buffer.from(s).equals(b) ? s : undefined;
      } catch {
        return undefined;
      }
    };
    const stored = nodes.map((n) => {
      const name = utf8(n.name);
      const o: Record<string, unknown> = name !== undefined ? { name } : { nameRaw: n.name.toString('base64') };
      Object.assign(o, { type: n.type, mode: n.mode, uid: n.uid, gid: n.gid, mtimeNs: `${n.mtimeNs}`, ctimeNs: `${n.ctimeNs}`, inode: `${n.inode}`, device: `${n.device}`, links: n.links });
      if (n.size !== undefined) o['size'] = n.size;
      if (n.content) o['content'] = n.content;
      if (n.subtrees) o['subtrees'] = n.subtrees;
      if (n.target) {
        const t = utf8(n.target);
        if (t !== undefined) o['target'] = t;
        else o['targetRaw'] = n.target.toString('base64');
      }
      if (n.rdev !== undefined) o['rdev'] = `${n.rdev}`;
      if (n.atimeNs !== undefined) o['atimeNs'] = `${n.atimeNs}`;
      if (n.extents) o['extents'] = n.extents.map((e) => [e.offset, e.length]);
      if (n.xattrs?.length) o['xattrs'] = n.xattrs.map((x) => ({ name: x.name, value: x.value.toString('base64') }));
      return o;
    });
    return JSON.stringify({ v: 2, nodes: stored });
  }

  it('writes exactly what JSON.stringify writes, for names and targets of every kind', () => {
    const names = ['plain', 'with "quotes"', 'back\\slash', 'new\nline', 'tab\t', 'ünïcödé', '日本語', '\u0001ctl', 'emoji😀', '</script>'];
    const raw = [Buffer.from([0xff, 0xfe]), Buffer.from([0x61, 0xc3]), Buffer.from([0xed, 0xa0, 0x80])];
    const nodes: TreeNode[] = [];
    const all = [...names.map((n) => Buffer.from(n)), ...raw];
    all.forEach((name, i) => {
      const base = { name, mode: 0o755, uid: i, gid: 2 * i, mtimeNs: 1_700_000_000_000_000_000n + BigInt(i), ctimeNs: 5n, inode: BigInt(i * 7), device: 64769n, links: 1 + (i % 3) };
      const v2 = i % 3 === 0 ? { atimeNs: BigInt(-i), extents: [{ offset: 4096 * i, length: 10 }], xattrs: [{ name: `user.${String.fromCodePoint(0x41 + i)}"q`, value: Buffer.from([i]) }] } : {};
      nodes.push({ ...base, type: 'file', size: i * 10, content: i % 2 ? [] : ['ab'.repeat(32), 'cd'.repeat(32)], ...v2 });
      nodes.push({ ...base, name: Buffer.concat([name, Buffer.from('-d')]), type: 'dir', subtrees: ['ef'.repeat(32)] });
      nodes.push({ ...base, name: Buffer.concat([name, Buffer.from('-l')]), type: 'symlink', target: all[(i + 3) % all.length]! });
      nodes.push({ ...base, name: Buffer.concat([name, Buffer.from('-c')]), type: 'chardev', rdev: 1025n });
    });
    expect(encodeTreeBlob(nodes).toString('utf8')).toBe(reference(nodes));
  });
});
