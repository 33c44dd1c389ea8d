import { conditions, duration, objectName, TAG_PATTERN } from './common.js';
import { BackupSpecSchema } from './backup.js';
import { AGE_COLUMN, type CrdDefinition, type Resource } from './definition.js';
import { arr, bool, describe, int32, int64, obj, oneOf, opt, str, time, type Infer } from './schema.js';

export const BACKUP_SCHEDULE_DEFAULTS = {
  timeZone: 'UTC',
  concurrencyPolicy: 'Forbid',
  maxCatchUp: 1,
} as const;

const keep = (what: string) => opt(int32(`Keep the last snapshot of each of the latest N ${what}.`, { minimum: 0, maximum: 100000 }));

export const RetentionPolicySchema = obj(
  'Which snapshots of this schedule to keep; the rest are forgotten after each successful run (a snapshot kept by any rule is kept). Same rules as restic forget.',
  {
    keepLast: opt(int32('Keep the N most recent snapshots.', { minimum: 0, maximum: 100000 })),
    keepHourly: keep('hours'),
    keepDaily: keep('days'),
    keepWeekly: keep('weeks'),
    keepMonthly: keep('months'),
    keepYearly: keep('years'),
    keepWithin: opt(duration('Keep every snapshot newer than this, relative to the newest snapshot.')),
    keepTags: opt(arr('Keep every snapshot carrying one of these tags.', str('A tag.', { pattern: TAG_PATTERN, maxLength: 255 }), { maxItems: 64, listType: 'set' })),
  },
);
export type RetentionPolicy = Infer<typeof RetentionPolicySchema>;

export const BackupScheduleSpecSchema = obj('When to create Backups and which snapshots to keep.', {
  schedule: str('Cron expression, five fields (minute hour day-of-month month day-of-week), or @hourly/@daily/@weekly/@monthly/@yearly; @hourly-random, @daily-random and @weekly-random run once per period at a fixed time of this schedule spread over the whole period.', { minLength: 1, maxLength: 128 }),
  startWindow: opt(duration('Shift every run by a fixed offset in [0, startWindow), derived from a hash of the schedule\'s namespace and name: stable across restarts, different between schedules, so many schedules on one cron time do not start at once. At most 744h; not with a -random macro.')),
  timeZone: opt(str('IANA time zone the cron expression is read in (e.g. Europe/Berlin). Default UTC.', { maxLength: 64, default: BACKUP_SCHEDULE_DEFAULTS.timeZone })),
  template: describe(BackupSpecSchema, 'Spec of each Backup created (named <schedule>-<yyyymmddhhmmss>).'),
  paused: opt(bool('No new Backups while true; missed runs are not caught up after unpausing.')),
  concurrencyPolicy: opt(oneOf('When a run is due while the previous Backup still runs: Forbid skips the new run, Replace cancels the old one. Default Forbid.', ['Forbid', 'Replace'], { default: BACKUP_SCHEDULE_DEFAULTS.concurrencyPolicy })),
  maxCatchUp: opt(int32('After downtime, start at most this many missed runs (the most recent ones). Default 1; 0 skips missed runs.', { minimum: 0, maximum: 10, default: BACKUP_SCHEDULE_DEFAULTS.maxCatchUp })),
  retention: opt(RetentionPolicySchema),
});
export type BackupScheduleSpec = Infer<typeof BackupScheduleSpecSchema>;

export const BACKUP_SCHEDULE_PHASES = ['New', 'Active', 'Paused', 'Invalid'] as const;
export type BackupSchedulePhase = (typeof BACKUP_SCHEDULE_PHASES)[number];

export const BackupScheduleStatusSchema = obj('Observed state of the schedule.', {
  phase: opt(oneOf('Active, Paused, or Invalid (cron or time zone does not parse; see conditions).', BACKUP_SCHEDULE_PHASES)),
  conditions: conditions(),
  observedGeneration: opt(int64('metadata.generation the status was computed from.', { minimum: 0 })),
  lastScheduleTime: opt(time('When a Backup was last created.')),
  lastSuccessfulTime: opt(time('When the last Backup that completed was created.')),
  nextScheduleTime: opt(time('When the next Backup is due.')),
  lastBackup: opt(objectName('Name of the last Backup created.')),
  active: opt(arr('Backups of this schedule that are still running.', objectName('A Backup.'), { maxItems: 100, listType: 'set' })),
  lastRetention: opt(
    obj('The last retention run.', {
      time: time('When it ran.'),
      result: oneOf('How it ended.', ['Succeeded', 'Failed']),
      snapshotsForgotten: opt(int64('Snapshots forgotten.', { minimum: 0 })),
      message: opt(str('What failed.', { maxLength: 32768 })),
    }),
  ),
});
export type BackupScheduleStatus = Infer<typeof BackupScheduleStatusSchema>;

export type BackupSchedule = Resource<'BackupSchedule', BackupScheduleSpec, BackupScheduleStatus>;

export const BACKUP_SCHEDULE_CRD: CrdDefinition = {
  kind: 'BackupSchedule',
  plural: 'backupschedules',
  singular: 'backupschedule',
  shortNames: ['fbs'],
  scope: 'Namespaced',
  description: 'Creates Backups on a cron schedule and applies a retention policy to their snapshots.',
  spec: BackupScheduleSpecSchema,
  status: BackupScheduleStatusSchema,
  printerColumns: [
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule', description: 'Cron expression.' },
    { name: 'Time-Zone', type: 'string', jsonPath: '.spec.timeZone', description: 'Time zone.', priority: 1 },
    { name: 'Paused', type: 'boolean', jsonPath: '.spec.paused', description: 'No new Backups while true.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Active, Paused or Invalid.' },
    { name: 'Last-Backup', type: 'date', jsonPath: '.status.lastScheduleTime', description: 'Time since the last Backup was created.' },
    { name: 'Last-Success', type: 'date', jsonPath: '.status.lastSuccessfulTime', description: 'Time since the last successful Backup.' },
    { name: 'Next', type: 'string', jsonPath: '.status.nextScheduleTime', description: 'When the next Backup is due.', priority: 1 },
    AGE_COLUMN,
  ],
};
