import { MoverError, type SourceIdentity } from '@ferry/mover';

/**
 * How a SourceIdentity is written into restic's snapshot metadata (see
 * docs/restic-mover.md):
 * - pod: `--host <namespace>/<pod>` and tags `ferry-ns=`, `ferry-pod=`, `ferry-volume=`,
 *   plus `ferry-pvc-uid=` / `ferry-pod-uid=` when known;
 * - host: `--host <host>`, no Ferry tags, the path is the snapshot's path.
 * Snapshots without Ferry tags (plain restic, Velero, K8up) read back as kind `host`.
 */
export const TAG = {
  namespace: 'ferry-ns',
  pod: 'ferry-pod',
  volume: 'ferry-volume',
  pvcUid: 'ferry-pvc-uid',
  podUid: 'ferry-pod-uid',
} as const;

const FERRY_TAG_PREFIXES = Object.values(TAG).map((name) => `${name}=`);

export function identityHost(identity: SourceIdentity): string {
  return identity.kind === 'pod' ? `${identity.namespace}/${identity.pod}` : identity.host;
}

export function identityTags(identity: SourceIdentity): string[] {
  if (identity.kind === 'host') return [];
  const tags = [`${TAG.namespace}=${identity.namespace}`, `${TAG.pod}=${identity.pod}`, `${TAG.volume}=${identity.volume}`];
  if (identity.pvcUid) tags.push(`${TAG.pvcUid}=${identity.pvcUid}`);
  if (identity.podUid) tags.push(`${TAG.podUid}=${identity.podUid}`);
  return tags.map(checkTag);
}

/** restic splits `--tag a,b` on commas and trims spaces, so such tags cannot round-trip. */
export function checkTag(tag: string): string {
  if (tag === '' || tag.includes(',') || tag.trim() !== tag) {
    throw new MoverError('InvalidArgument', `tag "${tag}" cannot be stored by restic: tags must be non-empty, without commas or surrounding spaces`);
  }
  return tag;
}

export function userTags(tags: readonly string[]): string[] {
  return tags.filter((tag) => !FERRY_TAG_PREFIXES.some((prefix) => tag.startsWith(prefix)));
}

export function identityFromSnapshot(hostname: string, paths: readonly string[], tags: readonly string[]): SourceIdentity {
  const value = (name: string): string | undefined => {
    const prefix = `${name}=`;
    return tags.find((t) => t.startsWith(prefix))?.slice(prefix.length);
  };
  const namespace = value(TAG.namespace);
  const pod = value(TAG.pod);
  const volume = value(TAG.volume);
  if (namespace === undefined || pod === undefined || volume === undefined) {
    return { kind: 'host', host: hostname, path: paths[0] ?? '/' };
  }
  const pvcUid = value(TAG.pvcUid);
  const podUid = value(TAG.podUid);
  return { kind: 'pod', namespace, pod, volume, ...(pvcUid ? { pvcUid } : {}), ...(podUid ? { podUid } : {}) };
}

/**
 * restic filter flags selecting one lineage. A pod identity's lineage is its PVC (stable
 * across pod restarts) when the uid is known, else namespace + pod + volume.
 */
export function lineageFilter(identity: SourceIdentity): string[] {
  if (identity.kind === 'host') return ['--host', identity.host, '--path', identity.path];
  if (identity.pvcUid) return ['--tag', checkTag(`${TAG.pvcUid}=${identity.pvcUid}`)];
  return podVolumeFilter(identity);
}

export function podVolumeFilter(identity: Extract<SourceIdentity, { kind: 'pod' }>): string[] {
  const tags = [`${TAG.namespace}=${identity.namespace}`, `${TAG.pod}=${identity.pod}`, `${TAG.volume}=${identity.volume}`];
  return ['--tag', tags.map(checkTag).join(',')];
}

/** A key equal for snapshots of the same lineage, for grouping without restic. */
export function lineageKey(identity: SourceIdentity): string {
  if (identity.kind === 'host') return `host\0${identity.host}\0${identity.path}`;
  if (identity.pvcUid) return `pvc\0${identity.pvcUid}`;
  return `pod\0${identity.namespace}\0${identity.pod}\0${identity.volume}`;
}
