import { describe, expect, it } from 'vitest';
import type { BackupObject } from '../objects.js';
import { pickLatest } from './restore-source.js';

const backup = (name: string, started: string, phase: string, schedule?: string): BackupObject => ({
  metadata: { name, namespace: 'shop', creationTimestamp: started, ...(schedule ? { labels: { 'ferry.dev/schedule': schedule } } : {}) },
  spec: {},
  status: { phase: phase as 'Completed', startTimestamp: started },
});

const BACKUPS = [
  backup('mon', '2030-05-01T00:00:00Z', 'Completed', 'nightly'),
  backup('tue', '2030-05-02T00:00:00Z', 'Completed', 'nightly'),
  backup('tue-manual', '2030-05-02T12:00:00Z', 'Completed'),
  backup('wed', '2030-05-03T00:00:00Z', 'Failed', 'nightly'),
  backup('wed-partial', '2030-05-03T06:00:00Z', 'PartiallyFailed', 'nightly'),
  backup('thu', '2030-05-04T00:00:00Z', 'InProgress', 'nightly'),
];

describe('pickLatest', () => {
  it('takes the newest Completed Backup, ignoring failed, partial and running ones', () => {
    expect(pickLatest(BACKUPS, {}, 'shop')).toEqual({ found: true, backupName: 'tue-manual' });
  });

  it('narrows to a schedule, a point in time and the n-th previous', () => {
    expect(pickLatest(BACKUPS, { schedule: 'nightly' }, 'shop')).toEqual({ found: true, backupName: 'tue' });
    expect(pickLatest(BACKUPS, { asOf: '2030-05-02T11:59:59Z' }, 'shop')).toEqual({ found: true, backupName: 'tue' });
    expect(pickLatest(BACKUPS, { asOf: '2030-05-02T00:00:00Z' }, 'shop')).toEqual({ found: true, backupName: 'tue' });
    expect(pickLatest(BACKUPS, { previous: 2 }, 'shop')).toEqual({ found: true, backupName: 'mon' });
    expect(pickLatest(BACKUPS, { schedule: 'nightly', previous: 1 }, 'shop')).toEqual({ found: true, backupName: 'mon' });
  });

  it('names the namespace, schedule and time when nothing matches', () => {
    const none = pickLatest(BACKUPS, { schedule: 'hourly', asOf: '2030-01-01T00:00:00Z' }, 'shop');
    expect(none).toEqual({ found: false, message: expect.stringMatching(/^no Completed Backup in namespace shop created by BackupSchedule hourly started at or before 2030-01-01T00:00:00Z; list them with `ferry backup list -n shop --phase Completed`/) });
    const tooFar = pickLatest(BACKUPS, { schedule: 'nightly', previous: 2 }, 'shop');
    expect(tooFar).toEqual({ found: false, message: expect.stringMatching(/^only 2 Completed Backup\(s\) in namespace shop created by BackupSchedule nightly; previous: 2 needs 3/) });
  });
});
