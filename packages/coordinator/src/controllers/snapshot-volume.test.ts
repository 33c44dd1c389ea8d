import { describe, expect, it } from 'vitest';
import type { PvbObject } from '../objects.js';
import { snapshotCut, snapshotObjectName, snapshotTarget, wantsSnapshot, workNode } from './snapshot-volume.js';

function pvb(over: Partial<PvbObject['spec']> = {}, status?: PvbObject['status']): PvbObject {
  return {
    metadata: { name: 'b-1', namespace: 'shop', uid: 'pvb-uid' },
    spec: { backup: 'b', pod: { namespace: 'shop', name: 'db-0', uid: 'pod-uid' }, node: 'n1', volume: { name: 'data', kind: 'persistentVolumeClaim', pvc: { name: 'data-db-0', uid: 'claim-uid' }, pvName: 'pv-orig' }, repository: 'r', mover: 'native', ...over },
    ...(status ? { status } : {}),
  } as PvbObject;
}

const helper = { name: 'ferry-helper-x', uid: 'helper-uid', node: 'n2' };

describe('snapshot mode of a PodVolumeBackup', () => {
  it('applies to claims in Auto or Always only', () => {
    expect(wantsSnapshot(pvb({ snapshotMode: 'Always' }))).toBe(true);
    expect(wantsSnapshot(pvb({ snapshotMode: 'Auto' }))).toBe(true);
    expect(wantsSnapshot(pvb({ snapshotMode: 'Never' }))).toBe(false);
    expect(wantsSnapshot(pvb())).toBe(false);
    expect(wantsSnapshot(pvb({ snapshotMode: 'Always', volume: { name: 'cache', kind: 'emptyDir' } }))).toBe(false);
  });

  it('sends the agent of the helper node to the helper pod volume, under the original claim identity', () => {
    const ready = pvb({ snapshotMode: 'Always' }, { volumeSnapshot: { name: 's', volumeName: 'pv-snap', helperPod: helper } });
    const t = snapshotTarget(ready, ready.status!);
    expect(t.spec.node).toBe('n2');
    expect(t.spec.pod).toEqual({ namespace: 'shop', name: 'ferry-helper-x', uid: 'helper-uid' });
    expect(t.spec.volume).toEqual({ name: 'data', kind: 'persistentVolumeClaim', pvc: { name: 'data-db-0', uid: 'claim-uid' }, pvName: 'pv-snap' });
    expect(workNode(ready)).toBe('n2');
    expect(ready.spec.pod.name).toBe('db-0');
  });

  it('reads the workload pod volume until a helper runs', () => {
    const waiting = pvb({ snapshotMode: 'Always' }, { volumeSnapshot: { name: 's' } });
    expect(snapshotTarget(waiting, waiting.status!)).toBe(waiting);
    expect(workNode(waiting)).toBe('n1');
  });

  it('counts the snapshot as cut once it has a creation time or is ready', () => {
    expect(snapshotCut(pvb({}, { volumeSnapshot: { name: 's' } }))).toBe(false);
    expect(snapshotCut(pvb({}, { volumeSnapshot: { name: 's', creationTime: '2026-01-01T00:00:00Z' } }))).toBe(true);
    expect(snapshotCut(pvb({}, { volumeSnapshot: { name: 's', readyTimestamp: '2026-01-01T00:00:00Z' } }))).toBe(true);
    expect(snapshotCut(pvb())).toBe(false);
  });

  it('names the snapshot and its claim after the PodVolumeBackup uid, the same on every call', () => {
    expect(snapshotObjectName('pvb-uid')).toMatch(/^ferry-snap-[0-9a-f]{10}$/);
    expect(snapshotObjectName('pvb-uid')).toBe(snapshotObjectName('pvb-uid'));
    expect(snapshotObjectName('other')).not.toBe(snapshotObjectName('pvb-uid'));
  });
});
