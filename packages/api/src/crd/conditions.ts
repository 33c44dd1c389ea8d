/**
 * The catalog of condition types and reasons Ferry writes. The schema keeps `type` and
 * `reason` open strings (as metav1.Condition does, so a newer coordinator can add one),
 * but Ferry's own code uses these unions so a typo fails to compile, and docs/crds.md is
 * rendered from the descriptions here.
 */

export const CONDITION_TYPES = {
  Accepted: 'The spec is valid and everything it names exists (location, repository, backup, namespaces). False stops the operation before any data moves.',
  AnnotationsValid: 'Every Ferry annotation on the selected pods and their PVCs parsed. False names each malformed annotation (also emitted as a Warning Event on the pod); the valid parts are still used.',
  VolumesSelected: 'The pods were listed and the volumes to back up or restore were chosen; skipped volumes are in status.skippedVolumes with a reason.',
  AgentAssigned: "An agent on the pod's node has the work (PodVolumeBackup, PodVolumeRestore).",
  Progressing: 'Work is under way. False once the resource reached a terminal phase; the reason is then the phase.',
  Failed: 'The operation (or, for a Backup, some volume) failed; reason and message say why.',
  HooksSucceeded: 'Backup: the pre and post hooks of its pods ran and exited 0. Restore: the restore hooks (post.hook.restore.ferry.dev) of its pods ran after their data was back and exited 0.',
  Ready: 'BackupLocation: reachable with its credentials. BackupRepository: initialised, its key opens it, and its id matches.',
  Checked: 'BackupRepository: the last repository check passed.',
  Maintenance: 'BackupRepository: a check or prune is assigned to an agent (True), or is due and waits for one (False, WaitingForAgent).',
  SnapshotsForgotten: 'Backup: some of its volumes\' snapshots were forgotten (schedule retention or ForgetSnapshots); the message lists the volumes that can still be restored. A Backup whose snapshots are all forgotten is deleted instead (Event SnapshotsForgotten).',
  Scheduled: 'BackupSchedule: the cron expression and time zone are valid and the next run is computed.',
  LogStored: 'Backup, Restore: the operation log was written to its BackupLocation once the operation ended (`ferry backup logs`, docs/operation-logs.md). False says why it was not; the operation\'s own result does not depend on it.',
} as const;
export type ConditionType = keyof typeof CONDITION_TYPES;

export const CONDITION_REASONS = {
  // Accepted
  Valid: 'The spec is valid.',
  InvalidSpec: 'A field is invalid in a way the schema cannot express; the message names the field.',
  LocationNotFound: 'The named BackupLocation does not exist.',
  NoDefaultLocation: 'No location was named and no BackupLocation has spec.default: true (or more than one has).',
  LocationReadOnly: 'The Backup names a BackupLocation with spec.accessMode ReadOnly; nothing is written to it.',
  LocationUnavailable: 'The Backup names a BackupLocation whose last validation failed (status.phase Unavailable); the message carries its Ready condition.',
  NamespaceNotAllowed: "A Backup or Restore outside the coordinator's namespace named a namespace other than its own.",
  BackupNotFound: 'The Restore names a Backup that does not exist.',
  SnapshotForgotten: 'The Restore selects a volume whose snapshot was forgotten (PodVolumeBackup status.snapshotForgotten); nothing is restored.',
  PartiallyForgotten: 'Some, not all, of the Backup\'s snapshots were forgotten; the message names the volumes that remain.',
  BackupNotRestorable: 'The Restore names a Backup that is not Completed or PartiallyFailed.',
  ClaimExists: 'A claim the Restore would create (spec.targetClaims) exists and is not its own: it is never written to.',
  ClaimNotFound: 'An existing target claim (spec.targetClaims[].existing) does not exist.',
  ClaimInUse: 'An existing target claim is mounted by a pod (named in the message); with spec.force the Restore waits instead.',
  InvalidTargetClaims: 'spec.targetClaims names a claim the backup does not hold, maps two claims into one, or mixes fields that do not go together.',
  HelperPodsUnsupported: 'Standalone mode: there is no scheduler or kubelet to run the helper pods that spec.targetClaims needs.',
  // AnnotationsValid
  AnnotationsParsed: 'Every annotation parsed.',
  MalformedAnnotation: 'At least one annotation is malformed; the message lists pod, key, value and what is expected.',
  // VolumesSelected
  VolumesFound: 'At least one volume was selected.',
  NoVolumesSelected: 'No pod volume matched; nothing to do (the operation completes empty).',
  // AgentAssigned
  Assigned: 'The agent on the node accepted the assignment.',
  WaitingForAgent: "No agent is connected for the pod's node yet.",
  AgentUnavailable: "No agent connected for the pod's node within the configured wait.",
  AgentLost: 'The agent disconnected while running the job and did not come back in time.',
  WaitingForPod: 'The restored pod has not been scheduled, or has not started restore-wait yet.',
  // Progressing / Failed / terminal
  Started: 'The agent started moving data.',
  Completed: 'Finished successfully.',
  PartiallyFailed: 'Finished, but some volumes or files failed; see counts and fileErrorsTotal.',
  Canceled: 'spec.cancel was set, or the Backup was deleted, before the work finished.',
  Timeout: 'The per-volume timeout elapsed; only that volume failed.',
  PodNotFound: 'The pod is gone (deleted or replaced by one with another UID).',
  MoverFailed: 'The mover reported an error; status.error.code holds its code.',
  WaitingForSnapshot: 'Snapshot mode: the VolumeSnapshot, the claim provisioned from it, or the helper pod that mounts it is not ready yet.',
  SnapshotUnsupported: "Snapshot mode Always: the claim cannot be snapshotted (not a CSI volume, no VolumeSnapshotClass for its driver, or no Kubernetes API); the volume was not copied.",
  SnapshotNotReady: 'Snapshot mode: the VolumeSnapshot did not become readyToUse within --snapshot-ready-timeout, reported an error, or was deleted.',
  HookFailed: 'A pre, post or restore hook exited non-zero, timed out, or could not run (its container never ran, a malformed command); with on-error Fail it fails the pod\'s backup, or makes a Restore PartiallyFailed.',
  HookSkipped: 'Restore: a pod\'s restore hook was not run because its volumes were not restored (failed or canceled).',
  HooksSucceeded: 'Every hook ran and exited 0.',
  BackupCommandFailed: 'The backup command exited non-zero or its stream was cut short; nothing was stored as a success.',
  // Ready / Checked
  Available: 'The location or repository answered and the credentials work.',
  Unavailable: 'The location or repository could not be reached; the message says what failed.',
  CredentialsNotFound: 'The referenced Secret or key does not exist.',
  Initialized: 'The repository was created with a new master key on first use.',
  RepositoryIdMismatch: 'The repository at the location has another id than the one recorded: it was replaced or the prefix is wrong.',
  CheckPassed: 'The last repository check found no problem.',
  CheckFailed: 'The last repository check found damage; the message names the damaged pack or index.',
  CheckError: 'The last repository check could not run (store unreachable, wrong key...); the message says why.',
  Idle: 'No check or prune is running.',
  // Scheduled
  ScheduleValid: 'Cron expression and time zone are valid.',
  InvalidSchedule: 'The cron expression does not parse.',
  InvalidTimeZone: 'The time zone is not a known IANA name.',
  Paused: 'spec.paused is true; no backups are started.',
  // LogStored
  LogStored: 'The log is stored at the BackupLocation; the message names the key.',
  LogStoreFailed: 'Writing the log failed (the location did not answer); retried every 30 s for 10 minutes.',
  LogNotStored: 'Writing the log kept failing for 10 minutes; it is not kept.',
  LogLocationReadOnly: 'The BackupLocation is ReadOnly: no log is written there.',
  LogLocationUnknown: 'The operation ended before a BackupLocation was chosen (or the location is gone): no log is kept.',
} as const;
export type ConditionReason = keyof typeof CONDITION_REASONS;
