/** The last-success series come from Backup objects: newest Completed per namespace and schedule. */
import { describe, expect, it } from 'vitest';
import { lastBackupSuccesses } from './backup-success.js';
import { resultLabel } from './controllers/commit.js';
import type { BackupObject } from './objects.js';

const LABEL = 'ferry.dev/schedule';
function backup(ns: string, phase: string, completed: string, o: { schedule?: string; namespaces?: string[] } = {}): BackupObject {
  return {
    metadata: { name: `b-${completed}`, namespace: ns, ...(o.schedule ? { labels: { [LABEL]: o.schedule } } : {}) },
    spec: o.namespaces ? { namespaces: o.namespaces } : {},
    status: { phase: phase as 'Completed', completionTimestamp: completed },
  } as BackupObject;
}

describe('lastBackupSuccesses', () => {
  it('keeps the newest Completed Backup per namespace and schedule; PartiallyFailed and Failed do not count', () => {
    const got = lastBackupSuccesses(
      [
        backup('shop', 'Completed', '2030-01-01T00:00:00Z', { schedule: 'nightly' }),
        backup('shop', 'Completed', '2030-01-02T00:00:00Z', { schedule: 'nightly' }),
        backup('shop', 'PartiallyFailed', '2030-01-03T00:00:00Z', { schedule: 'nightly' }),
        backup('shop', 'Completed', '2030-01-01T12:00:00Z'),
        backup('shop', 'InProgress', ''),
        backup('ferry-system', 'Completed', '2030-01-04T00:00:00Z', { namespaces: ['a', 'b'], schedule: 'all' }),
      ],
      LABEL,
    );
    const s = (iso: string) => Date.parse(iso) / 1000;
    expect(got.sort((x, y) => `${x.namespace}/${x.schedule}`.localeCompare(`${y.namespace}/${y.schedule}`))).toEqual([
      { namespace: 'a', schedule: 'all', seconds: s('2030-01-04T00:00:00Z') },
      { namespace: 'b', schedule: 'all', seconds: s('2030-01-04T00:00:00Z') },
      { namespace: 'shop', schedule: '', seconds: s('2030-01-01T12:00:00Z') },
      { namespace: 'shop', schedule: 'nightly', seconds: s('2030-01-02T00:00:00Z') },
    ]);
  });

  it('writes terminal phases as the agent writes results', () => {
    expect(['Completed', 'PartiallyFailed', 'Failed', 'Canceled'].map(resultLabel)).toEqual(['completed', 'partially_failed', 'failed', 'canceled']);
  });
});
