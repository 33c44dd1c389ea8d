import { describe, expect, it } from 'vitest';
import type { RestoreObject } from '../objects.js';
import type { RestoreItem } from '../controllers/restore-items.js';
import { claimItemKeys, planClaims } from './claim-plan.js';

function item(key: string, claimName: string | undefined, o: Partial<RestoreItem> = {}): RestoreItem {
  return { key, sourceNamespace: 'shop', targetNamespace: 'shop', volume: 'v', ...(claimName ? { claimName, claim: { storageClassName: 'standard', storage: '5Gi', accessModes: ['ReadWriteOnce'] } } : {}), snapshotId: 'a'.repeat(64), repository: 'r', mover: 'native', ...o };
}

function restore(spec: Partial<RestoreObject['spec']>): RestoreObject {
  return { metadata: { namespace: 'shop', name: 'r1', uid: 'u-1' }, spec: { backupName: 'b1', ...spec } };
}

const ITEMS = [item('i-data', 'data'), item('i-logs', 'logs'), item('i-cache', undefined)];

describe('planClaims', () => {
  it('creates a new claim with the backed-up class (mapped), size and access modes, labelled and owned by nothing', () => {
    const plan = planClaims(restore({ targetClaims: [{ claim: 'data', name: 'data-copy' }], storageClassMap: { standard: 'fast' } }), ITEMS);
    expect(plan.ok).toBe(true);
    const [t] = plan.ok ? plan.targets : [];
    expect(t).toMatchObject({ namespace: 'shop', name: 'data-copy', existing: false, item: { key: 'i-data' } });
    expect(t!.body?.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'fast' });
    expect(t!.body?.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'ferry', 'ferry.dev/restore-uid': 'u-1' });
    expect(t!.body?.metadata?.ownerReferences).toBeUndefined();
  });

  it('lets an entry override class, size and modes; * takes every claim, never a non-claim volume', () => {
    const plan = planClaims(restore({ targetClaims: [{ claim: '*' }, { claim: 'logs', storageClassName: 'slow', storage: '1Gi', accessModes: ['ReadWriteMany'] }] }), ITEMS);
    const targets = plan.ok ? plan.targets : [];
    expect(targets.map((t) => [t.item.key, t.name, t.body?.spec?.storageClassName, t.body?.spec?.resources?.requests?.['storage']])).toEqual([['i-data', 'data', 'standard', '5Gi'], ['i-logs', 'logs', 'slow', '1Gi']]);
    expect([...claimItemKeys(restore({ targetClaims: [{ claim: '*' }] }), ITEMS)]).toEqual(['i-data', 'i-logs']);
  });

  it('refuses what cannot be meant, naming the entry', () => {
    const bad = (spec: Partial<RestoreObject['spec']>, items = ITEMS) => {
      const plan = planClaims(restore(spec), items);
      return plan.ok ? '' : plan.message;
    };
    expect(bad({ targetClaims: [{ claim: '*', name: 'x' }] })).toMatch(/targetClaims\[0\] \(claim \*\): name cannot be set/);
    expect(bad({ targetClaims: [{ claim: 'data', existing: true, storage: '1Gi' }] })).toMatch(/are for new claims/);
    expect(bad({ targetClaims: [{ claim: 'nope' }] })).toMatch(/holds no claim nope/);
    expect(bad({ targetClaims: [{ claim: 'data', name: 'same' }, { claim: 'logs', name: 'same' }] })).toMatch(/both be restored into claim shop\/same/);
    expect(bad({ targetClaims: [{ claim: 'data' }] }, [item('i-data', 'data', { claim: {} })])).toMatch(/records no size; set storage/);
  });

  it('plans nothing without targetClaims', () => {
    expect(planClaims(restore({}), ITEMS)).toEqual({ ok: true, targets: [] });
  });
});
