/** The Ferry objects as the controllers handle them (spec and status from @ferry/api's inferred types). */
import type {
  V1alpha1Backup,
  V1alpha1PodVolumeBackup,
  V1alpha1PodVolumeRestore,
  V1alpha1Restore,
} from '@ferry/api';
import type { FerryObject } from './cluster/cluster-state.js';

export type BackupObject = FerryObject<V1alpha1Backup['spec'], NonNullable<V1alpha1Backup['status']>>;
export type PvbObject = FerryObject<V1alpha1PodVolumeBackup['spec'], NonNullable<V1alpha1PodVolumeBackup['status']>>;
export type RestoreObject = FerryObject<V1alpha1Restore['spec'], NonNullable<V1alpha1Restore['status']>>;
export type PvrObject = FerryObject<V1alpha1PodVolumeRestore['spec'], NonNullable<V1alpha1PodVolumeRestore['status']>>;
export type BackupStatus = NonNullable<V1alpha1Backup['status']>;
export type PvbStatus = NonNullable<V1alpha1PodVolumeBackup['status']>;
export type RestoreStatus = NonNullable<V1alpha1Restore['status']>;
export type PvrStatus = NonNullable<V1alpha1PodVolumeRestore['status']>;
