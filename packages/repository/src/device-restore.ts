/**
 * Restore of a device snapshot (device-image.ts) onto an existing block device or file:
 * size-checked before anything is written, blobs fetched a few ahead, holes made to read
 * as zeros, fsync at the end.
 */
import type { DeviceRestoreOptions, DeviceRestoreSummary, Snapshot, TreeNode } from './api.js';
import { BlobFetcher } from './blob-fetcher.js';
import { observed } from './concurrency.js';
import type { RepositoryCore } from './core.js';
import { DeviceWriter, openDeviceTarget, type DeviceImage } from './device-image.js';
import { asCanceled, RepositoryError, throwIfAborted } from './errors.js';
import { ProgressMeter } from './progress.js';

const BLOBS_AHEAD = 16;

export async function runDeviceRestore(repo: RepositoryCore, options: DeviceRestoreOptions): Promise<DeviceRestoreSummary> {
  const started = repo.clock.now();
  const snapshot = await repo.resolveSnapshot(options.snapshot);
  const image = snapshot.device;
  if (!image) throw new RepositoryError('InvalidArgument', `snapshot ${snapshot.id} holds a filesystem, not a block device; restore it into a directory`);
  const node = await imageNode(repo, snapshot, image);
  const target = await openDeviceTarget(options.target, image);
  const meter = new ProgressMeter('restore', repo.clock, options.onProgress);
  meter.bytesTotal = image.size;
  meter.filesTotal = 1;
  try {
    const writer = new DeviceWriter(target, node.extents ?? [{ offset: 0, length: image.size }], image.size, options.target);
    const fetcher = new BlobFetcher({ store: repo.store, index: repo.index, pool: repo.pool, signal: options.signal });
    for await (const raw of fetchAhead(fetcher, node.content ?? [])) {
      throwIfAborted(options.signal, 'restore');
      await writer.write(raw);
      meter.bytesDone += raw.length;
      meter.tick();
    }
    await writer.finish();
    meter.filesDone = 1;
    meter.finish();
    return { snapshot, size: image.size, bytesWritten: writer.bytesWritten, durationSeconds: (repo.clock.now() - started) / 1000 };
  } catch (err) {
    throw asCanceled(err, options.signal, 'restore');
  } finally {
    await target.fh.close();
  }
}

async function imageNode(repo: RepositoryCore, snapshot: Snapshot, image: DeviceImage): Promise<TreeNode> {
  const nodes = await repo.readTree(snapshot.tree);
  const node = nodes.find((n) => n.name.toString('utf8') === image.file);
  if (node?.type !== 'file' || node.size !== image.size) throw new RepositoryError('Corrupt', `snapshot ${snapshot.id}: its device image ${image.file} of ${image.size} bytes is missing from its root tree`);
  return node;
}

/** Blobs in order, BLOBS_AHEAD in flight so the store's latency overlaps the writes. */
async function* fetchAhead(fetcher: BlobFetcher, ids: readonly string[]): AsyncIterable<Buffer> {
  const ahead: Promise<Buffer>[] = [];
  let next = 0;
  const fill = (): void => {
    while (next < ids.length && ahead.length < BLOBS_AHEAD) ahead.push(observed(fetcher.fetch(ids[next++]!)));
  };
  fill();
  while (ahead.length > 0) {
    const raw = await ahead.shift()!;
    fill();
    yield raw;
  }
}
