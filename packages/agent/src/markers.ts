/**
 * Restore done-markers. After restoring a volume the agent writes `.ferry/<restore-uid>`
 * into it; on failure `.ferry/<restore-uid>.failed` holding the reason. restore-wait (in
 * the restored pod) waits for them. This module must stay tiny and dependency-free:
 * restore-wait imports it and starts in every restored pod.
 */
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const MARKER_DIR = '.ferry';

export function doneMarkerPath(volumeDir: string, restoreUid: string): string {
  return join(volumeDir, MARKER_DIR, restoreUid);
}

export function failedMarkerPath(volumeDir: string, restoreUid: string): string {
  return join(volumeDir, MARKER_DIR, `${restoreUid}.failed`);
}

// Written as a temp file, synced, then renamed: restore-wait must never see half a marker.
async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

async function ensureMarkerDir(volumeDir: string): Promise<void> {
  const dir = join(volumeDir, MARKER_DIR);
  await mkdir(dir, { recursive: true });
  // restore-wait runs as the pod's user and removes the markers the agent wrote.
  await chmod(dir, 0o777);
}

export async function writeDoneMarker(volumeDir: string, restoreUid: string, content = ''): Promise<void> {
  await ensureMarkerDir(volumeDir);
  await rm(failedMarkerPath(volumeDir, restoreUid), { force: true });
  await writeAtomic(doneMarkerPath(volumeDir, restoreUid), content);
}

export async function writeFailedMarker(volumeDir: string, restoreUid: string, reason: string): Promise<void> {
  await ensureMarkerDir(volumeDir);
  await writeAtomic(failedMarkerPath(volumeDir, restoreUid), `${reason.trim()}\n`);
}

/** Before (re)trying a restore: a previous attempt's markers no longer apply. */
export async function clearMarkers(volumeDir: string, restoreUid: string): Promise<void> {
  await rm(failedMarkerPath(volumeDir, restoreUid), { force: true });
  await rm(doneMarkerPath(volumeDir, restoreUid), { force: true });
}
