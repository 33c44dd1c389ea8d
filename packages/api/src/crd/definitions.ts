import { BACKUP_CRD } from './backup.js';
import type { CrdDefinition } from './definition.js';
import { BACKUP_LOCATION_CRD } from './location.js';
import { POD_VOLUME_BACKUP_CRD } from './pod-volume-backup.js';
import { POD_VOLUME_RESTORE_CRD } from './pod-volume-restore.js';
import { BACKUP_REPOSITORY_CRD } from './repository.js';
import { RESTORE_CRD } from './restore.js';
import { BACKUP_SCHEDULE_CRD } from './schedule.js';

/** Every Ferry custom resource, in the order they are documented and installed. */
export const CRD_DEFINITIONS: readonly CrdDefinition[] = [
  BACKUP_LOCATION_CRD,
  BACKUP_REPOSITORY_CRD,
  BACKUP_CRD,
  POD_VOLUME_BACKUP_CRD,
  RESTORE_CRD,
  POD_VOLUME_RESTORE_CRD,
  BACKUP_SCHEDULE_CRD,
];
