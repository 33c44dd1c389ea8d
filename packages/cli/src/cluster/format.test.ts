import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { Backup__Output, BackupRepository__Output, Schedule__Output } from '@ferry/api';
import { backupTable, describeBackup } from './backups.js';
import { bytesCell, formatAge, humanDuration, renderFields, renderItems, renderObject, renderTable } from './format.js';
import { repoTable, snapshotTable } from './repos.js';
import { retentionText, scheduleTable } from './schedules.js';

const NOW = new Date('2026-11-23T12:00:00Z');

function progress(over: Partial<NonNullable<Backup__Output['progress']>> = {}): NonNullable<Backup__Output['progress']> {
  return { bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 0, volumesTotal: 0, volumesDone: 0, volumesFailed: 0, ...over };
}

function backup(over: Partial<Backup__Output> = {}): Backup__Output {
  return {
    namespace: 'shop',
    name: 'b1',
    uid: 'u-1',
    phase: 'Completed',
    location: 'rgw',
    mover: 'native',
    schedule: '',
    createdAt: '2026-11-23T11:55:00Z',
    startedAt: '2026-11-23T11:55:01Z',
    completedAt: '2026-11-23T11:56:00Z',
    progress: progress({ bytesDone: 3 * 1024 * 1024, bytesTotal: 3 * 1024 * 1024, volumesTotal: 4, volumesDone: 4 }),
    volumes: [],
    skipped: [],
    message: '',
    tags: [],
    excludes: [],
    purgeOnDelete: false,
    labels: {},
    createdBy: '',
    ...over,
  };
}

describe('tables', () => {
  it('pads every column but the last to its widest cell, three spaces apart', () => {
    expect(renderTable(['NAME', 'AGE'], [['a-long-name', '5m'], ['b', '10d']])).toBe('NAME          AGE\na-long-name   5m\nb             10d\n');
  });

  it('lists backups with phase, volumes done/total, human bytes and age; NAMESPACE first with -A', () => {
    const rows = [backup(), backup({ namespace: 'web', name: 'nightly-1', phase: 'InProgress', schedule: 'nightly', progress: progress({ bytesDone: 1536, volumesTotal: 2, volumesDone: 1 }), createdAt: '2026-11-21T13:00:00Z' })];
    const one = backupTable(rows.slice(0, 1), { allNamespaces: false, now: NOW }).split('\n');
    expect(one[0]).toMatch(/^NAME\s+PHASE\s+VOLUMES\s+BYTES\s+LOCATION\s+SCHEDULE\s+AGE$/);
    expect(one[1]).toMatch(/^b1\s+Completed\s+4\/4\s+3\.00 MiB\s+rgw\s+5m$/);
    const all = backupTable(rows, { allNamespaces: true, now: NOW }).split('\n');
    expect(all[0]).toMatch(/^NAMESPACE\s+NAME\s+PHASE/);
    expect(all[2]).toMatch(/^web\s+nightly-1\s+InProgress\s+1\/2\s+1\.50 KiB\s+rgw\s+nightly\s+47h$/);
  });

  it('shows a backup not started yet as New with unknown totals', () => {
    const table = backupTable([backup({ phase: '', progress: null })], { allNamespaces: false, now: NOW });
    expect(table.split('\n')[1]).toMatch(/^b1\s+New\s+0\/-\s+0 B\s+rgw/);
  });

  it('lists schedules with next run relative to now and paused ones without one', () => {
    const s: Schedule__Output = {
      namespace: 'shop', name: 'nightly', cron: '0 2 * * *', timeZone: 'Europe/Berlin', paused: false, concurrencyPolicy: 'Forbid', retention: null, phase: 'Active',
      lastScheduleTime: '2026-11-23T01:00:00Z', lastSuccessfulTime: '', nextScheduleTime: '2026-11-24T01:00:00Z', lastBackup: 'nightly-20261123010000', active: [], message: '', maxCatchUp: 1, startWindow: '',
    };
    const lines = scheduleTable([s, { ...s, name: 'paused', paused: true, phase: 'Paused', lastBackup: '', lastScheduleTime: '' }], { allNamespaces: false, now: NOW }).split('\n');
    expect(lines[1]).toMatch(/^nightly\s+0 2 \* \* \* \(Europe\/Berlin\)\s+Active\s+false\s+nightly-20261123010000\s+11h ago\s+in 13h$/);
    expect(lines[2]).toMatch(/^paused\s+.*Paused\s+true\s+<none>\s+<never>\s+<none>$/);
  });

  it('lists repositories with size, snapshot count and the last maintenance results', () => {
    const r: BackupRepository__Output = {
      name: 'rgw-shop', namespace: 'shop', location: 'rgw', mover: 'native', phase: 'Ready', url: 's3:https://h/b/p', sizeBytes: 5 * 1024 ** 3, snapshotCount: 12,
      lastCheck: { startedAt: '2026-11-23T09:00:00Z', completedAt: '2026-11-23T09:01:00Z', result: 'Succeeded', message: '', errors: 0, bytesFreed: 0, readDataPercent: 0 },
      lastPrune: null, nextCheckTime: '', nextPruneTime: '',
    };
    const line = repoTable([r], { allNamespaces: false, now: NOW }).split('\n')[1];
    expect(line).toMatch(/^rgw-shop\s+rgw\s+native\s+Ready\s+5\.00 GiB\s+12\s+Succeeded 179m ago\s+<never>$/);
  });

  it('lists snapshots by short id', () => {
    const line = snapshotTable([{ id: 'ab'.repeat(32), time: '2026-11-23T11:00:00Z', hostname: 'node-a', paths: ['/shop/web-0/data'], tags: ['t1'], parent: '', sizeBytes: 100 }], NOW).split('\n')[1];
    expect(line).toMatch(/^abababab\s+2026-11-23T11:00:00Z\s+60m\s+node-a\s+\/shop\/web-0\/data\s+t1\s+100 B$/);
  });
});

describe('describe', () => {
  it('shows the fields, a volume table with short snapshot ids and errors, and skipped volumes', () => {
    const text = describeBackup(
      backup({
        phase: 'PartiallyFailed',
        message: '1 of 2 volumes failed',
        tags: ['a', 'b'],
        labels: { team: 'shop' },
        volumes: [
          { pod: 'web-0', volume: 'data', node: 'node-a', phase: 'Completed', snapshotId: 'cd'.repeat(32), progress: progress({ bytesDone: 2048 }), bytesAdded: 1024, bytesDeduplicated: 3072, error: '', resource: 'b1-x', namespace: 'shop', claimName: 'data-web-0', kind: 'persistentVolumeClaim' },
          { pod: 'db-0', volume: 'data', node: 'node-b', phase: 'Failed', snapshotId: '', progress: null, bytesAdded: 0, bytesDeduplicated: 0, error: 'Timeout: volume took longer than 4h', resource: 'b1-y', namespace: 'shop', claimName: '', kind: 'emptyDir' },
        ],
        skipped: [{ pod: 'web-0', volume: 'secret', reason: 'secret' }],
        createdBy: 'alice',
        startedAt: '2026-11-23T11:56:00Z',
        completedAt: '2026-11-23T11:57:30Z',
      }),
      NOW,
    );
    expect(text).toContain('Phase:            PartiallyFailed\n');
    expect(text).toContain('Message:          1 of 2 volumes failed\n');
    expect(text).toContain('Tags:             a,b\n');
    expect(text).toContain('Labels:           team=shop\n');
    expect(text).toContain('Created:          2026-11-23T11:55:00Z (5m ago)\n');
    expect(text).not.toContain('Schedule:');
    expect(text).toContain('Created by:       alice\n');
    expect(text).toContain('Duration:         90s\n');
    expect(text).toMatch(/\n {2}NAMESPACE\s+POD\s+VOLUME\s+KIND\s+CLAIM\s+NODE\s+PHASE\s+SNAPSHOT\s+BYTES\s+ADDED\s+DEDUPLICATED\s+ERROR\n/);
    expect(text).toMatch(/\n {2}shop\s+web-0\s+data\s+persistentVolumeClaim\s+data-web-0\s+node-a\s+Completed\s+cdcdcdcd\s+2\.00 KiB\s+1\.00 KiB\s+3\.00 KiB\n/);
    expect(text).toMatch(/\n {2}shop\s+db-0\s+data\s+emptyDir\s+node-b\s+Failed\s+0 B\s+0 B\s+0 B\s+Timeout: volume took longer than 4h\n/);
    expect(text).toMatch(/Skipped:\n {2}POD\s+VOLUME\s+REASON\n {2}web-0\s+secret\s+secret\n/);
  });

  it('aligns keys and drops empty values', () => {
    expect(renderFields([['A', 'x'], ['Longer', 'y'], ['Empty', ''], ['Missing', undefined]])).toBe('A:       x\nLonger:  y\n');
  });

  it('names retention rules that are set, including zero counts', () => {
    expect(retentionText({ keepLast: 0, keepDaily: 7, keepWithin: '30d', keepTags: ['keep'] })).toBe('last 0, daily 7, within 30d, tags keep');
    expect(retentionText(null)).toBeUndefined();
  });
});

describe('units and machine formats', () => {
  it('prints ages the way kubectl does', () => {
    expect(humanDuration(45)).toBe('45s');
    expect(humanDuration(119)).toBe('119s');
    expect(humanDuration(330)).toBe('5m30s');
    expect(humanDuration(42 * 60)).toBe('42m');
    expect(humanDuration(200 * 60)).toBe('3h20m');
    expect(humanDuration(30 * 3600)).toBe('30h');
    expect(humanDuration(3 * 86400 + 5 * 3600)).toBe('3d5h');
    expect(humanDuration(120 * 86400)).toBe('120d');
    expect(humanDuration(3 * 365 * 86400)).toBe('3y');
    expect(formatAge('', NOW)).toBe('<unknown>');
    expect(formatAge('2026-11-23T12:00:10Z', NOW)).toBe('0s');
  });

  it('uses binary units for bytes', () => {
    expect(bytesCell(undefined)).toBe('0 B');
    expect(bytesCell(1023)).toBe('1023 B');
    expect(bytesCell(1536)).toBe('1.50 KiB');
    expect(bytesCell(5 * 1024 ** 4)).toBe('5.00 TiB');
  });

  it('renders lists as one JSON or YAML document with items that round-trip', () => {
    const items = [backup(), backup({ name: 'b2', labels: { a: 'b' } })];
    const json = JSON.parse(renderItems(items, 'json')) as { items: Backup__Output[] };
    expect(json.items.map((b) => b.name)).toEqual(['b1', 'b2']);
    expect(json.items[0]?.progress?.bytesDone).toBe(3 * 1024 * 1024);
    const yaml = parse(renderItems(items, 'yaml')) as { items: Backup__Output[] };
    expect(yaml).toEqual(json);
    expect(parse(renderObject(items[1], 'yaml'))).toEqual(items[1]);
  });
});
