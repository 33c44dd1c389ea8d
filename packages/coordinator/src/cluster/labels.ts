/** On pods adopted by the restore webhook: the Restore they belong to. Both cluster states watch pods by it. */
export const RESTORED_POD_LABEL = 'restore.ferry.dev/restore';

/** `true` on objects made by ImportBackup/ImportKey: read from here, never written by this cluster's own backups. */
export const IMPORTED_LABEL = 'ferry.dev/imported';

/** `true` on the leading coordinator's own pod; the coordinator Service selects it, so traffic reaches the leader alone. */
export const LEADER_LABEL = 'ferry.dev/leader';
