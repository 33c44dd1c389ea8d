/**
 * `ferry check`: verifies that a repository is consistent (docs/repository-format.md)
 * and, with `readData`, that its packs decrypt and match their content ids.
 *
 * Structure (always): config MAC and key slots; every index segment entry points at a
 * listed pack and agrees with that pack's header (read with one ranged get of the pack's
 * tail); packs no index lists are orphans (a warning, §9); every snapshot decodes and
 * every tree and data blob it references is indexed (each tree blob read once).
 *
 * Damage is reported with what it costs: the snapshots and paths of the files (or
 * directories) whose blobs are missing or damaged, found by a second walk that only
 * descends into trees that lead to damage.
 *
 * Check builds its own index from the live segments (superseded ones are ignored, §6),
 * listed after the snapshots: a snapshot is written after the segment that lists its
 * blobs (§9), so a backup finishing during the check cannot make its snapshot look
 * incomplete. Its packs may show up as orphans (a warning) if they land in between.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isBlobStoreError } from '@ferry/blobstore';
import type { Progress, Snapshot, TreeNode } from './api.js';
import { BLOB_DATA, BLOB_TREE, type BlobType } from './blob-codec.js';
import { mapLimited } from './concurrency.js';
import { parseConfig, verifyConfig } from './config.js';
import { AAD, open, SEAL_OVERHEAD } from './crypto.js';
import { isRepositoryError, RepositoryError, throwIfAborted } from './errors.js';
import { BlobIndex } from './blob-index.js';
import { decodeIndexSegment, readSupersedes, type IndexSegment } from './index-segment.js';
import { parseKeySlot } from './keys.js';
import { decodePackHeader, packKey, type PackEntry } from './pack.js';
import { ProgressMeter } from './progress.js';
import type { Repository } from './repository.js';
import { decodeSnapshot, listSnapshotIds, snapshotKey } from './snapshot-store.js';
import { decodeTreeBlob } from './tree.js';

/**
 * Which packs to download and verify blob by blob:
 * - `'all'`: every indexed pack;
 * - `{ part, of }` (restic's `--read-data-subset N/M`): the packs whose id's first byte
 *   mod `of` is `part - 1`, so running parts 1..M reads every pack exactly once;
 * - `{ fraction }` (`P%`): round(fraction × packs) packs (at least one), chosen at random
 *   per run so repeated checks cover the repository over time; give `seed` to repeat a
 *   choice (packs are ranked by SHA-256(seed || pack id)).
 */
export type ReadDataSelection =
  | 'all'
  | { readonly fraction: number; readonly seed?: string }
  | { readonly part: number; readonly of: number };

export interface CheckOptions {
  /** Also download and verify packs; structure only when absent. */
  readonly readData?: ReadDataSelection;
  readonly signal?: AbortSignal;
  /**
   * op 'check'. While pack headers are checked filesDone/filesTotal count packs; while
   * reading data they count packs read and bytesDone/bytesTotal their bytes.
   * currentFile names the phase ("pack headers", "snapshots", "trees", "reading data",
   * "finding affected files").
   */
  readonly onProgress?: (progress: Progress) => void;
}

export type CheckProblemKind = 'pack' | 'blob' | 'index' | 'snapshot' | 'tree' | 'key' | 'config';

export interface CheckAffected {
  readonly snapshot: string;
  /** '/'-rooted path inside the snapshot ('/' is its root directory). */
  readonly path: string;
}

export interface CheckProblem {
  readonly kind: CheckProblemKind;
  /** What is broken: a pack, blob, tree or snapshot id, an object key ('index/…', 'keys/…'), or 'config'. */
  readonly object: string;
  readonly message: string;
  /** Files and directories (per snapshot) that cannot be restored because of it. */
  readonly affects?: readonly CheckAffected[];
}

export interface CheckStats {
  readonly snapshots: number;
  /** Distinct tree blobs read. */
  readonly trees: number;
  /** Packs listed by the index. */
  readonly packs: number;
  /** Distinct blobs listed by the live index segments. */
  readonly blobs: number;
  /** Bytes downloaded from data/ (pack tails and, with readData, whole packs). */
  readonly bytesRead: number;
  /** Packs downloaded and verified blob by blob. */
  readonly packsRead: number;
}

export interface CheckReport {
  /** No errors (warnings allowed). */
  readonly ok: boolean;
  readonly errors: readonly CheckProblem[];
  readonly warnings: readonly CheckProblem[];
  readonly stats: CheckStats;
}

const PACK_KEY = /^data\/([0-9a-f]{2})\/([0-9a-f]{64})$/;
const HEX_ID = /^[0-9a-f]{64}$/;
const HEADER_ENTRY_BYTES = 45;
const INDEX_CONCURRENCY = 4;
const HEADER_CONCURRENCY = 8;
const SNAPSHOT_CONCURRENCY = 8;
const TREE_CONCURRENCY = 8;
/** Packs downloaded at once; each is held whole (~16–25 MiB) while its blobs are verified. */
const PACK_READS_IN_FLIGHT = 2;
/** Larger packs (not written by Ferry, but possible) are read in ranges of this size. */
const WHOLE_PACK_LIMIT = 64 * 1024 * 1024;
const DECODE_BATCH_BYTES = 8 * 1024 * 1024;
const DECODE_BATCH_ITEMS = 64;
/** Affected files listed per problem; the message counts the rest. */
const AFFECTS_LIMIT = 100;

/** One index entry as stored per pack while checking: id(32) || offset || length || rawLength. */
const RECORD = 32 + 12;

interface IndexEntry {
  readonly id: Buffer;
  readonly hex: string;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

interface IndexedPack {
  readonly id: Buffer;
  readonly hex: string;
  readonly type: BlobType;
  /** Entries from every segment naming this pack, packed RECORD bytes each. */
  readonly chunks: Buffer[];
  /** Bytes in data/, once listed; undefined when the pack is missing. */
  size: number | undefined;
  /** Set once its tail was read: the sealed header length from the trailer. */
  headerLength?: number;
}

interface OpenProblem {
  readonly kind: CheckProblemKind;
  readonly object: string;
  readonly message: string;
  readonly affects: CheckAffected[];
  readonly seen: Set<string>;
  more: number;
}

export async function checkRepository(repo: Repository, options: CheckOptions = {}): Promise<CheckReport> {
  const selection = options.readData !== undefined ? validateSelection(options.readData) : undefined;
  const checker = new Checker(repo, options);
  try {
    await checker.run(selection);
  } catch (err) {
    if (options.signal?.aborted && !isRepositoryError(err, 'Canceled')) throw new RepositoryError('Canceled', 'check canceled', { cause: err });
    throw err;
  }
  return checker.report();
}

class Checker {
  private readonly errors: OpenProblem[] = [];
  private readonly warnings: OpenProblem[] = [];
  private readonly stats = { snapshots: 0, trees: 0, packs: 0, blobs: 0, bytesRead: 0, packsRead: 0 };
  /** The problem of every damaged or missing blob (by hex id), to fill in what it affects. */
  private readonly damaged = new Map<string, OpenProblem>();
  private readonly packs = new Map<string, IndexedPack>();
  /** Built from the segments as they are now, not as they were when the repository was opened. */
  private readonly index = new BlobIndex();
  private readonly signal: AbortSignal | undefined;
  private meter: ProgressMeter;

  constructor(
    private readonly repo: Repository,
    private readonly options: CheckOptions,
  ) {
    this.signal = options.signal;
    this.meter = this.newMeter('config');
  }

  async run(selection: ReadDataSelection | undefined): Promise<void> {
    await this.checkConfig();
    await this.checkKeys();
    const snapshotIds = await listSnapshotIds(this.repo.store, this.signal);
    await this.loadIndexEntries();
    await this.checkPacks(await this.listPacks());
    const snapshots = await this.loadSnapshots(snapshotIds);
    await this.walkTrees(snapshots);
    if (selection !== undefined) await this.readData(selection);
    if (this.damaged.size > 0) await this.findAffected(snapshots);
  }

  report(): CheckReport {
    const close = (p: OpenProblem): CheckProblem => ({
      kind: p.kind,
      object: p.object,
      message: p.more > 0 ? `${p.message} (and ${p.more} more affected paths not listed)` : p.message,
      ...(p.affects.length > 0 ? { affects: p.affects } : {}),
    });
    return {
      ok: this.errors.length === 0,
      errors: sortProblems(this.errors).map(close),
      warnings: sortProblems(this.warnings).map(close),
      stats: { ...this.stats },
    };
  }

  // --- config and keys -------------------------------------------------------------

  /** Repository.open verified the config once; read it again so a check sees the stored bytes. */
  private async checkConfig(): Promise<void> {
    const where = this.repo.description;
    try {
      const { config, mac } = parseConfig(await this.repo.store.get('config', { signal: this.signal }), where);
      verifyConfig(config, mac, this.repo.keys.config, where);
      if (config.id !== this.repo.id) this.error('config', 'config', `config id ${config.id} is not the id ${this.repo.id} the repository was opened with`);
    } catch (err) {
      this.rethrowIfFatal(err);
      this.error('config', 'config', messageOf(err));
    }
  }

  private async checkKeys(): Promise<void> {
    const keys: string[] = [];
    for await (const entry of this.repo.store.list('keys/', { signal: this.signal })) keys.push(entry.key);
    await mapLimited(keys.sort(), INDEX_CONCURRENCY, async (key) => {
      try {
        const slot = parseKeySlot(await this.repo.store.get(key, { signal: this.signal }), key);
        const expected = slot.kind === 'password' ? 'scrypt' : slot.kind === 'cluster' ? 'hkdf-sha256' : undefined;
        if (expected === undefined || slot.kdf.name !== expected || typeof slot.kdf.salt !== 'string') {
          this.error('key', key, `key slot ${key} has kind ${String(slot.kind)} with kdf ${String(slot.kdf.name)}; it cannot open the repository`);
        }
      } catch (err) {
        this.rethrowIfFatal(err);
        this.error('key', key, messageOf(err));
      }
    });
  }

  // --- index and packs -------------------------------------------------------------

  /**
   * Reads every segment, skips superseded ones, and keeps each entry per pack (an index
   * keeps only the first entry of a blob; the pack check needs them all).
   */
  private async loadIndexEntries(): Promise<void> {
    const keys: string[] = [];
    for await (const entry of this.repo.store.list('index/', { signal: this.signal })) keys.push(entry.key);
    keys.sort();
    const plains = await mapLimited(keys, INDEX_CONCURRENCY, (key) => this.readSegment(key));
    const superseded = new Set<string>();
    for (const plain of plains) for (const id of plain ? readSupersedes(plain) : []) superseded.add(`index/${id.toString('hex')}`);
    keys.forEach((key, i) => {
      const plain = plains[i];
      plains[i] = undefined;
      if (plain && !superseded.has(key)) this.addSegment(key, decodeIndexSegment(plain));
    });
    this.stats.packs = this.packs.size;
    this.stats.blobs = this.index.blobCount;
  }

  /** The validated plaintext of a segment, or undefined (problem recorded). */
  private async readSegment(key: string): Promise<Buffer | undefined> {
    throwIfAborted(this.signal, 'check');
    try {
      const plain = open(this.repo.keys.object, AAD.index, await this.repo.store.get(key, { signal: this.signal }));
      if (!plain) throw new Error(`index segment ${key} fails authentication (damaged or truncated)`);
      readSupersedes(plain);
      return plain;
    } catch (err) {
      this.rethrowIfFatal(err);
      this.error('index', key, `${messageOf(err).replace(/^index segment: /, `index segment ${key}: `)}; its packs show up as orphans`);
      return undefined;
    }
  }

  private addSegment(key: string, segment: IndexSegment): void {
    for (const blob of segment.blobs) {
      const pack = segment.packs[blob.packNo]!;
      this.checkDuplicate(key, blob.id, pack.type, blob.rawLength);
    }
    try {
      this.index.merge(segment);
    } catch (err) {
      this.error('index', key, messageOf(err));
      return;
    }
    const perPack = segment.packs.map((p) => ({ pack: this.indexedPack(key, p.id, p.type), records: [] as Buffer[] }));
    for (const blob of segment.blobs) {
      const target = perPack[blob.packNo]!;
      this.checkDuplicate(key, blob.id, target.pack.type, blob.rawLength);
      const record = Buffer.alloc(RECORD);
      blob.id.copy(record, 0);
      record.writeUInt32LE(blob.offset, 32);
      record.writeUInt32LE(blob.length, 36);
      record.writeUInt32LE(blob.rawLength, 40);
      target.records.push(record);
    }
    for (const { pack, records } of perPack) if (records.length > 0) pack.chunks.push(Buffer.concat(records));
  }

  private indexedPack(segmentKey: string, id: Buffer, type: BlobType): IndexedPack {
    const hex = id.toString('hex');
    let pack = this.packs.get(hex);
    if (!pack) {
      pack = { id, hex, type, chunks: [], size: undefined };
      this.packs.set(hex, pack);
    } else if (pack.type !== type) {
      this.error('index', segmentKey, `${segmentKey} lists pack ${hex} as ${typeName(type)} but another segment as ${typeName(pack.type)}`);
    }
    return pack;
  }

  /** A blob may be stored twice (§6), but every copy must be the same blob. */
  private checkDuplicate(segmentKey: string, id: Buffer, type: BlobType, rawLength: number): void {
    const first = this.index.lookup(id);
    const hex = id.toString('hex');
    if (first && (first.type !== type || first.rawLength !== rawLength)) {
      this.error(
        'index',
        hex,
        `blob ${hex} is listed twice with different contents: ${typeName(first.type)} of ${first.rawLength} bytes, and in ${segmentKey} ${typeName(type)} of ${rawLength} bytes`,
      );
    }
  }

  /** data/ listed once: pack hex id → size. */
  private async listPacks(): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for await (const entry of this.repo.store.list('data/', { signal: this.signal })) {
      const m = PACK_KEY.exec(entry.key);
      // Readers ignore keys they do not know (§1); a pack under the wrong prefix is not one.
      if (m && m[2]!.startsWith(m[1]!)) sizes.set(m[2]!, entry.size);
    }
    return sizes;
  }

  private async checkPacks(sizes: Map<string, number>): Promise<void> {
    this.meter = this.newMeter('pack headers');
    this.meter.filesTotal = this.packs.size;
    await mapLimited([...this.packs.values()], HEADER_CONCURRENCY, async (pack) => {
      throwIfAborted(this.signal, 'check');
      const size = sizes.get(pack.hex);
      if (size === undefined) this.missingPack(pack);
      else {
        pack.size = size;
        await this.checkPack(pack, size).catch((err: unknown) => {
          // Listed a moment ago, gone now: as missing as a pack that was never there.
          if (!isBlobStoreError(err, 'NotFound')) throw err;
          pack.size = undefined;
          this.missingPack(pack);
        });
      }
      this.meter.filesDone++;
      this.meter.tick();
    });
    this.meter.finish();
    for (const [hex, size] of [...sizes].sort((a, b) => a[0].localeCompare(b[0]))) {
      if (!this.packs.has(hex)) {
        this.warning('pack', hex, `orphan pack ${packKey(hex)} (${size} bytes) is in no index (an interrupted backup leaves such packs; prune removes them)`);
      }
    }
  }

  private missingPack(pack: IndexedPack): void {
    const entries = distinctEntries(pack);
    const problem = this.error(
      'pack',
      pack.hex,
      `pack ${packKey(pack.hex)} is missing: the index lists ${entries.length} ${typeName(pack.type)} blob(s) in it that cannot be read`,
    );
    for (const e of entries) this.markDamaged(e.hex, problem);
  }

  private async checkPack(pack: IndexedPack, size: number): Promise<void> {
    const entries = distinctEntries(pack);
    const header = await this.readHeader(pack, size, entries.length);
    const limit = size - 4 - (pack.headerLength ?? 0);
    for (const e of entries) {
      if (e.offset + e.length > limit) {
        const problem = this.error(
          'blob',
          e.hex,
          `${typeName(pack.type)} blob ${e.hex}: the index places it at bytes ${e.offset}..${e.offset + e.length} of pack ${pack.hex}, beyond its ${limit} bytes of blobs`,
        );
        this.markDamaged(e.hex, problem);
      }
    }
    if (header) this.compareHeader(pack, entries, header);
  }

  /** The pack's header entries, or undefined (problem recorded) when it is unreadable. */
  private async readHeader(pack: IndexedPack, size: number, blobs: number): Promise<PackEntry[] | undefined> {
    const fail = (what: string): undefined => {
      this.error('pack', pack.hex, `pack ${packKey(pack.hex)}: ${what}; its blobs may still be readable through the index (--read-data verifies them)`);
      return undefined;
    };
    if (size < SEAL_OVERHEAD + 4) return fail(`${size} bytes is too short to hold a header`);
    // The header length follows from the entry count, so one ranged get usually gets it all.
    const guess = Math.min(size, SEAL_OVERHEAD + 8 + blobs * HEADER_ENTRY_BYTES + 4);
    let tail = await this.getRange(pack.hex, size - guess, guess);
    const headerLength = tail.readUInt32LE(tail.length - 4);
    if (headerLength + 4 > size) return fail(`its trailer gives a ${headerLength}-byte header, but the pack has ${size} bytes`);
    pack.headerLength = headerLength;
    if (headerLength + 4 > tail.length) tail = await this.getRange(pack.hex, size - headerLength - 4, headerLength + 4);
    const sealed = tail.subarray(tail.length - 4 - headerLength, tail.length - 4);
    if (!createHash('sha256').update(sealed).digest().equals(pack.id)) {
      return fail('its header does not hash to its name (a damaged header, or a pack stored under the wrong id)');
    }
    const decoded = decodePackHeader(this.repo.keys.object, Buffer.from(sealed), size);
    return decoded.ok ? decoded.entries : fail(decoded.problem);
  }

  private compareHeader(pack: IndexedPack, entries: readonly IndexEntry[], header: readonly PackEntry[]): void {
    const byId = new Map(header.map((h) => [h.id.toString('hex'), h]));
    for (const e of entries) {
      const h = byId.get(e.hex);
      byId.delete(e.hex);
      const where = `the index lists blob ${e.hex} in pack ${pack.hex} at ${e.offset}+${e.length} (${e.rawLength} raw, ${typeName(pack.type)})`;
      if (!h) this.error('index', e.hex, `${where}, but the pack header does not list it`);
      else if (h.offset !== e.offset || h.length !== e.length || h.rawLength !== e.rawLength || h.type !== pack.type) {
        this.error('index', e.hex, `${where}; the pack header says ${h.offset}+${h.length} (${h.rawLength} raw, ${typeName(h.type)})`);
      }
    }
    if (byId.size > 0) {
      this.warning('pack', pack.hex, `pack ${packKey(pack.hex)} holds ${byId.size} blob(s) no index lists for it (unused space; prune reclaims it)`);
    }
  }

  private async getRange(packHex: string, offset: number, length: number): Promise<Buffer> {
    const bytes = await this.repo.store.get(packKey(packHex), { range: { offset, length }, signal: this.signal });
    this.stats.bytesRead += bytes.length;
    return bytes;
  }

  // --- snapshots and trees ---------------------------------------------------------

  private async loadSnapshots(ids: string[]): Promise<Snapshot[]> {
    this.meter = this.newMeter('snapshots');
    const loaded = await mapLimited(ids.sort(), SNAPSHOT_CONCURRENCY, async (id) => {
      try {
        const snapshot = decodeSnapshot(this.repo.keys.object, id, await this.repo.store.get(snapshotKey(id), { signal: this.signal }));
        const bad = snapshot.tree.find((t) => typeof t !== 'string' || !HEX_ID.test(t));
        if (bad !== undefined) throw new Error(`snapshot ${id} names a root tree "${String(bad)}" that is not an id`);
        return snapshot;
      } catch (err) {
        this.rethrowIfFatal(err);
        this.error('snapshot', id, messageOf(err));
        return undefined;
      }
    });
    const snapshots = loaded.filter((s): s is Snapshot => s !== undefined);
    this.stats.snapshots = snapshots.length;
    return snapshots.sort((a, b) => a.time.getTime() - b.time.getTime() || a.id.localeCompare(b.id));
  }

  /** Breadth first over distinct tree blobs, a level at a time with reads in parallel. */
  private async walkTrees(snapshots: readonly Snapshot[]): Promise<void> {
    this.meter = this.newMeter('trees');
    const visited = new Set<string>();
    let frontier = unique(snapshots.flatMap((s) => s.tree));
    for (const id of frontier) visited.add(id);
    while (frontier.length > 0) {
      const next: string[] = [];
      await mapLimited(frontier, TREE_CONCURRENCY, async (hex) => {
        throwIfAborted(this.signal, 'check');
        for (const sub of (await this.checkTree(hex)) ?? []) {
          if (!visited.has(sub)) {
            visited.add(sub);
            next.push(sub);
          }
        }
        this.meter.filesDone++;
        this.meter.tick();
      });
      frontier = next;
    }
    this.meter.finish();
  }

  /** Reads a tree blob and checks what it references; returns its subtree ids. */
  private async checkTree(hex: string): Promise<string[] | undefined> {
    const nodes = await this.readTreeBlob(hex);
    if (!nodes) return undefined;
    this.stats.trees++;
    const subtrees: string[] = [];
    for (const node of nodes) {
      const refs = [...(node.content ?? []), ...(node.subtrees ?? [])];
      const bad = refs.find((r) => typeof r !== 'string' || !HEX_ID.test(r));
      if (bad !== undefined) {
        this.markDamaged(hex, this.error('tree', hex, `tree ${hex}: entry ${node.name.toString('utf8')} references "${String(bad)}", which is not a blob id`));
        continue;
      }
      for (const data of node.content ?? []) this.checkDataReference(data);
      subtrees.push(...(node.subtrees ?? []));
    }
    return subtrees;
  }

  private async readTreeBlob(hex: string): Promise<TreeNode[] | undefined> {
    if (this.damaged.has(hex)) return undefined;
    const result = await this.loadTree(hex);
    if (typeof result !== 'string') return result;
    this.markDamaged(hex, this.error('tree', hex, result));
    return undefined;
  }

  /** A tree blob's nodes, or what is wrong with it. */
  private async loadTree(hex: string): Promise<TreeNode[] | string> {
    const id = Buffer.from(hex, 'hex');
    const loc = this.index.lookup(id);
    if (!loc?.packId) return `tree blob ${hex} is referenced but not in the index`;
    if (loc.type !== BLOB_TREE) return `blob ${hex} is referenced as a tree but stored as a data blob`;
    try {
      const sealed = await this.repo.store.get(packKey(loc.packId), { range: { offset: loc.offset, length: loc.length }, signal: this.signal });
      const raw = this.repo.codec.decode(BLOB_TREE, id, sealed);
      if (typeof raw === 'string') return `tree blob ${hex} in pack ${loc.packId.toString('hex')} is damaged: ${raw}`;
      return decodeTreeBlob(raw, hex);
    } catch (err) {
      if (!isBlobStoreError(err, 'InvalidRange')) this.rethrowIfFatal(err);
      return messageOf(err);
    }
  }

  private checkDataReference(hex: string): void {
    if (this.damaged.has(hex)) return;
    const loc = this.index.lookup(Buffer.from(hex, 'hex'));
    if (!loc) this.markDamaged(hex, this.error('blob', hex, `data blob ${hex} is referenced but not in the index`));
    else if (loc.type !== BLOB_DATA) this.markDamaged(hex, this.error('blob', hex, `blob ${hex} is referenced as file data but stored as a tree blob`));
  }

  // --- read data -------------------------------------------------------------------

  private async readData(selection: ReadDataSelection): Promise<void> {
    const present = [...this.packs.values()].filter((p) => p.size !== undefined);
    const chosen = selectPacks(present, selection);
    this.meter = this.newMeter('reading data');
    this.meter.filesTotal = chosen.length;
    this.meter.bytesTotal = chosen.reduce((sum, p) => sum + (p.size ?? 0), 0);
    this.meter.finish();
    await mapLimited(chosen, PACK_READS_IN_FLIGHT, async (pack) => {
      throwIfAborted(this.signal, 'check');
      await this.readPack(pack);
      this.stats.packsRead++;
      this.meter.filesDone++;
      this.meter.bytesDone += pack.size ?? 0;
      this.meter.tick();
    });
    this.meter.finish();
  }

  private async readPack(pack: IndexedPack): Promise<void> {
    const size = pack.size ?? 0;
    const entries = distinctEntries(pack)
      .filter((e) => !this.damaged.has(e.hex))
      .sort((a, b) => a.offset - b.offset);
    try {
      for (const span of spans(entries, size)) {
        const bytes = await this.getRange(pack.hex, span.start, span.end - span.start);
        await this.verifyBlobs(pack, span.entries, bytes, span.start);
      }
    } catch (err) {
      if (!isBlobStoreError(err, 'NotFound') && !isBlobStoreError(err, 'InvalidRange')) throw err;
      const problem = this.error('pack', pack.hex, `pack ${packKey(pack.hex)} vanished or shrank while it was read: ${messageOf(err)}`);
      for (const e of entries) if (!this.damaged.has(e.hex)) this.markDamaged(e.hex, problem);
    }
  }

  private async verifyBlobs(pack: IndexedPack, entries: readonly IndexEntry[], bytes: Buffer, start: number): Promise<void> {
    const batches: IndexEntry[][] = [];
    let batch: IndexEntry[] = [];
    let batchBytes = 0;
    for (const e of entries) {
      if (batch.length >= DECODE_BATCH_ITEMS || batchBytes + e.length > DECODE_BATCH_BYTES) {
        if (batch.length > 0) batches.push(batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push(e);
      batchBytes += e.length;
    }
    if (batch.length > 0) batches.push(batch);
    await Promise.all(
      batches.map(async (items) => {
        throwIfAborted(this.signal, 'check');
        const results = await this.repo.pool.decode(items.map((e) => ({ type: pack.type, id: e.id, sealed: ownCopy(bytes, e.offset - start, e.length) })));
        items.forEach((e, i) => {
          const res = results[i];
          const error = !res ? 'no result from the worker' : 'error' in res ? res.error : undefined;
          if (error !== undefined) {
            this.markDamaged(e.hex, this.error('blob', e.hex, `${typeName(pack.type)} blob ${e.hex} in pack ${pack.hex} is damaged: ${error}`));
          }
        });
      }),
    );
  }

  // --- what the damage affects -----------------------------------------------------

  /**
   * Walks every snapshot again, descending only into trees that may lead to damage: a
   * tree blob found clean once is remembered by id and skipped from then on.
   */
  private async findAffected(snapshots: readonly Snapshot[]): Promise<void> {
    this.meter = this.newMeter('finding affected files');
    this.meter.finish();
    const clean = new Set<string>();
    for (const snapshot of snapshots) {
      throwIfAborted(this.signal, 'check');
      await this.affectedBelow(snapshot.id, snapshot.tree, '', clean);
    }
  }

  /** Records affected paths below a directory; returns whether anything below is damaged. */
  private async affectedBelow(snapshot: string, trees: readonly string[], dir: string, clean: Set<string>): Promise<boolean> {
    let dirty = false;
    for (const hex of trees) {
      if (clean.has(hex)) continue;
      const damage = this.damaged.get(hex);
      if (damage) {
        affect(damage, snapshot, dir === '' ? '/' : dir);
        dirty = true;
        continue;
      }
      const nodes = await this.loadTree(hex);
      if (typeof nodes === 'string') {
        dirty = true;
        continue;
      }
      let treeDirty = false;
      for (const node of nodes) {
        const path = `${dir}/${node.name.toString('utf8')}`;
        for (const data of node.content ?? []) {
          const problem = this.damaged.get(data);
          if (problem) {
            affect(problem, snapshot, path);
            treeDirty = true;
          }
        }
        if (node.subtrees && (await this.affectedBelow(snapshot, node.subtrees, path, clean))) treeDirty = true;
      }
      if (treeDirty) dirty = true;
      else clean.add(hex);
    }
    return dirty;
  }

  // --- bookkeeping -----------------------------------------------------------------

  private error(kind: CheckProblemKind, object: string, message: string): OpenProblem {
    const problem: OpenProblem = { kind, object, message, affects: [], seen: new Set(), more: 0 };
    this.errors.push(problem);
    return problem;
  }

  private warning(kind: CheckProblemKind, object: string, message: string): void {
    this.warnings.push({ kind, object, message, affects: [], seen: new Set(), more: 0 });
  }

  private markDamaged(blobHex: string, problem: OpenProblem): void {
    if (!this.damaged.has(blobHex)) this.damaged.set(blobHex, problem);
  }

  /** Cancellation and store failures end the check: they say nothing about the repository. */
  private rethrowIfFatal(err: unknown): void {
    if (isRepositoryError(err, 'Canceled') || isRepositoryError(err, 'Store')) throw err;
    if (isBlobStoreError(err) && !isBlobStoreError(err, 'NotFound')) throw err;
    if (this.signal?.aborted) throw new RepositoryError('Canceled', 'check canceled', { cause: err });
  }

  private newMeter(phase: string): ProgressMeter {
    const meter = new ProgressMeter('check', this.repo.clock, this.options.onProgress);
    meter.currentFile = phase;
    return meter;
  }
}

function affect(problem: OpenProblem, snapshot: string, path: string): void {
  const key = `${snapshot}\0${path}`;
  if (problem.seen.has(key)) return;
  problem.seen.add(key);
  if (problem.affects.length < AFFECTS_LIMIT) problem.affects.push({ snapshot, path });
  else problem.more++;
}

/** The entries of a pack, one per blob id (the same pack may be listed by several segments). */
function distinctEntries(pack: IndexedPack): IndexEntry[] {
  const out = new Map<string, IndexEntry>();
  for (const chunk of pack.chunks) {
    for (let at = 0; at < chunk.length; at += RECORD) {
      const id = Buffer.from(chunk.subarray(at, at + 32));
      const hex = id.toString('hex');
      if (!out.has(hex)) {
        out.set(hex, { id, hex, offset: chunk.readUInt32LE(at + 32), length: chunk.readUInt32LE(at + 36), rawLength: chunk.readUInt32LE(at + 40) });
      }
    }
  }
  return [...out.values()];
}

interface Span {
  readonly start: number;
  end: number;
  readonly entries: IndexEntry[];
}

/** One get for the whole pack when it is of a normal size, else ranges of neighbouring blobs. */
function spans(sorted: readonly IndexEntry[], packSize: number): Span[] {
  if (sorted.length === 0) return [];
  if (packSize <= WHOLE_PACK_LIMIT) return [{ start: 0, end: packSize, entries: [...sorted] }];
  const out: Span[] = [];
  let current: Span | undefined;
  for (const e of sorted) {
    if (!current || e.offset + e.length - current.start > WHOLE_PACK_LIMIT) {
      current = { start: e.offset, end: e.offset + e.length, entries: [e] };
      out.push(current);
    } else {
      current.entries.push(e);
      current.end = Math.max(current.end, e.offset + e.length);
    }
  }
  return out;
}

/**
 * A blob's bytes in a buffer of its own: posting a view would clone the whole pack to the
 * worker, while a buffer it owns is transferred.
 */
function ownCopy(bytes: Buffer, at: number, length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length);
  bytes.copy(out, 0, at, at + length);
  return out;
}

function validateSelection(selection: ReadDataSelection): ReadDataSelection {
  if (selection === 'all') return selection;
  if ('part' in selection) {
    const { part, of } = selection;
    if (!Number.isInteger(part) || !Number.isInteger(of) || of < 1 || of > 256 || part < 1 || part > of) {
      throw new RepositoryError('InvalidArgument', `read-data subset ${part}/${of} is not valid: use N/M with 1 <= N <= M <= 256`);
    }
    return selection;
  }
  const { fraction } = selection;
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw new RepositoryError('InvalidArgument', `read-data fraction ${fraction} is not valid: use a share above 0% and at most 100%`);
  }
  return selection;
}

function selectPacks(packs: readonly IndexedPack[], selection: ReadDataSelection): IndexedPack[] {
  if (selection === 'all') return [...packs];
  if ('part' in selection) return packs.filter((p) => p.id[0]! % selection.of === selection.part - 1);
  if (packs.length === 0) return [];
  const seed = Buffer.from(selection.seed ?? randomBytes(16).toString('hex'), 'utf8');
  const count = Math.max(1, Math.round(selection.fraction * packs.length));
  const rank = (p: IndexedPack): Buffer => createHash('sha256').update(seed).update(p.id).digest();
  return packs
    .map((p) => ({ p, r: rank(p) }))
    .sort((a, b) => Buffer.compare(a.r, b.r))
    .slice(0, count)
    .map((x) => x.p);
}

const KIND_ORDER: readonly CheckProblemKind[] = ['config', 'key', 'index', 'pack', 'snapshot', 'tree', 'blob'];

function sortProblems(problems: readonly OpenProblem[]): OpenProblem[] {
  return [...problems].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.object.localeCompare(b.object));
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

function typeName(type: number): string {
  return type === BLOB_TREE ? 'tree' : type === BLOB_DATA ? 'data' : `type-${type}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
