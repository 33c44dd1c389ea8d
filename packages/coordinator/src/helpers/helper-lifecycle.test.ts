import { describe, expect, it } from 'vitest';
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { helperState } from './helper-lifecycle.js';

const TIMEOUTS = { provisionMs: 10_000, startMs: 10_000 };
const bound: V1PersistentVolumeClaim = { metadata: { name: 'data' }, status: { phase: 'Bound' } };
const pending: V1PersistentVolumeClaim = { metadata: { name: 'data' }, status: { phase: 'Pending' } };

function pod(status: V1Pod['status'], nodeName?: string): V1Pod {
  return { metadata: { name: 'ferry-helper-x', uid: 'u1' }, spec: { containers: [], ...(nodeName ? { nodeName } : {}) }, status };
}

describe('helperState', () => {
  it('is Ready once the pod runs on a node, with the node and pod uid the agent needs', () => {
    expect(helperState({ pod: pod({ phase: 'Running' }, 'n1'), claim: bound, sinceMs: 0, nowMs: 1, timeouts: TIMEOUTS })).toEqual({ phase: 'Ready', node: 'n1', podUid: 'u1' });
  });

  it('waits on a Pending claim of a WaitForFirstConsumer class once the pod is scheduled', () => {
    expect(helperState({ pod: pod({ phase: 'Pending' }, 'n1'), claim: pending, sinceMs: 0, nowMs: 60_000, timeouts: TIMEOUTS })).toMatchObject({ phase: 'Failed', reason: 'HelperPodTimeout' });
    expect(helperState({ pod: pod({ phase: 'Pending' }, 'n1'), claim: pending, sinceMs: 0, nowMs: 1, timeouts: TIMEOUTS }).phase).toBe('Pending');
  });

  it('fails ProvisioningFailed for a missing or Lost claim at once', () => {
    expect(helperState({ pod: undefined, claim: undefined, sinceMs: 0, nowMs: 1, timeouts: TIMEOUTS })).toMatchObject({ phase: 'Failed', reason: 'ProvisioningFailed' });
    expect(helperState({ pod: undefined, claim: { ...bound, status: { phase: 'Lost' } }, sinceMs: 0, nowMs: 1, timeouts: TIMEOUTS })).toMatchObject({ phase: 'Failed', reason: 'ProvisioningFailed' });
  });

  it('fails HelperPodFailed with the exit code when the pod stopped before the data moved', () => {
    const stopped = pod({ phase: 'Failed', containerStatuses: [{ name: 'wait', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 3, message: 'timed out' } } }] }, 'n1');
    const s = helperState({ pod: stopped, claim: bound, sinceMs: 0, nowMs: 1, timeouts: TIMEOUTS });
    expect(s).toMatchObject({ phase: 'Failed', reason: 'HelperPodFailed' });
    expect(s.phase === 'Failed' && s.message).toContain('exit 3, timed out');
  });
});
