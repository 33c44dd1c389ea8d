/** Every annotation Ferry reads, by purpose. docs/annotations.md describes each. */
export const ANNOTATIONS = {
  /** Pod: comma-separated volume names to back up (opt-in). */
  backupVolumes: 'backup.ferry.dev/backup-volumes',
  /** Pod: comma-separated volume names never to back up. */
  backupVolumesExcludes: 'backup.ferry.dev/backup-volumes-excludes',
  /** Pod: a command whose stdout is stored in the snapshot as a file. */
  backupCommand: 'backup.ferry.dev/backup-command',
  /** Pod: the container the backup command runs in. */
  backupCommandContainer: 'backup.ferry.dev/backup-command-container',
  /** Pod: extension of the file the backup command's output is stored as. */
  fileExtension: 'backup.ferry.dev/file-extension',
  /** Pod: comma-separated path globs inside every backed-up volume of the pod that are not backed up. */
  excludePaths: 'backup.ferry.dev/exclude-paths',
  /** Pod being restored: the volume a backup command's output file is restored into. */
  backupCommandRestoreVolume: 'backup.ferry.dev/backup-command-restore-volume',
  /** Pod: snapshot mode (Auto, Always, Never) for all its claims, or per volume (`data=Always,logs=Never`). */
  snapshotMode: 'backup.ferry.dev/snapshot-mode',
  preHookCommand: 'pre.hook.backup.ferry.dev/command',
  preHookContainer: 'pre.hook.backup.ferry.dev/container',
  preHookTimeout: 'pre.hook.backup.ferry.dev/timeout',
  preHookOnError: 'pre.hook.backup.ferry.dev/on-error',
  postHookCommand: 'post.hook.backup.ferry.dev/command',
  postHookContainer: 'post.hook.backup.ferry.dev/container',
  postHookTimeout: 'post.hook.backup.ferry.dev/timeout',
  postHookOnError: 'post.hook.backup.ferry.dev/on-error',
  /** Pod being restored: a command run in it once its volumes are restored and the container runs (a replay of a dump). */
  restoreHookCommand: 'post.hook.restore.ferry.dev/command',
  restoreHookContainer: 'post.hook.restore.ferry.dev/container',
  restoreHookTimeout: 'post.hook.restore.ferry.dev/timeout',
  restoreHookOnError: 'post.hook.restore.ferry.dev/on-error',
  /** How long the restore hook waits for its container to run after the volumes are back. */
  restoreHookWaitTimeout: 'post.hook.restore.ferry.dev/wait-timeout',
  /** PersistentVolumeClaim: "true" keeps every pod volume using this claim out of backups. */
  pvcExclude: 'backup.ferry.dev/exclude',
} as const;
export type AnnotationKey = (typeof ANNOTATIONS)[keyof typeof ANNOTATIONS];

/** The annotation prefixes Ferry owns: any other key under them is reported as unknown (a typo). */
export const FERRY_ANNOTATION_DOMAINS = ['backup.ferry.dev/', 'pre.hook.backup.ferry.dev/', 'post.hook.backup.ferry.dev/', 'post.hook.restore.ferry.dev/', 'pre.hook.restore.ferry.dev/'] as const;

export const POD_ANNOTATION_KEYS: readonly AnnotationKey[] = Object.values(ANNOTATIONS).filter((k) => k !== ANNOTATIONS.pvcExclude);
export const PVC_ANNOTATION_KEYS: readonly AnnotationKey[] = [ANNOTATIONS.pvcExclude];

/** Defaults applied when a hook annotation is absent (the same as Velero's, which users know). */
export const HOOK_DEFAULTS = {
  timeoutMilliseconds: 30_000,
  onError: 'Fail',
  /** A restore hook waits this long for its container to run once the pod's volumes are back. */
  waitTimeoutMilliseconds: 300_000,
} as const;

/** A plain-string command runs as `/bin/sh -c <string>`; the shell does the splitting. */
export const SHELL = ['/bin/sh', '-c'] as const;
