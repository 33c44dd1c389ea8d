/**
 * What a restore into a new claim needs to know about the claim that was backed up (its
 * class, size and access modes), recorded on the PodVolumeBackup at backup time: by restore
 * time the claim may be gone, or live in another cluster.
 */
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { PvbObject } from '../objects.js';

type PvcRef = NonNullable<PvbObject['spec']['volume']['pvc']>;
export type ClaimFacts = Pick<PvcRef, 'storageClassName' | 'storage' | 'accessModes'>;
type AccessMode = NonNullable<PvcRef['accessModes']>[number];

const ACCESS_MODES: readonly string[] = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'];

export function claimFacts(claim: V1PersistentVolumeClaim | undefined): ClaimFacts {
  if (!claim) return {};
  const storageClassName = claim.spec?.storageClassName;
  // The capacity the data lived in; a request can be smaller than what was provisioned.
  const storage = claim.status?.capacity?.['storage'] ?? claim.spec?.resources?.requests?.['storage'];
  const modes = (claim.spec?.accessModes ?? []).filter((m): m is AccessMode => ACCESS_MODES.includes(m));
  return {
    ...(storageClassName ? { storageClassName } : {}),
    ...(storage ? { storage: String(storage) } : {}),
    ...(modes.length > 0 ? { accessModes: modes } : {}),
  };
}

/** The facts a PodVolumeBackup recorded (absent on ones written before they were recorded). */
export function recordedFacts(ref: PvcRef): ClaimFacts {
  return {
    ...(ref.storageClassName ? { storageClassName: ref.storageClassName } : {}),
    ...(ref.storage ? { storage: ref.storage } : {}),
    ...(ref.accessModes ? { accessModes: [...ref.accessModes] } : {}),
  };
}
