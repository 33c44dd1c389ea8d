import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ANNOTATIONS } from './keys.js';
import { selectPodVolumes, volumeSourceKind, type PodLike, type PvcLike, type SelectPodVolumesOptions, type SkipReason, type VolumeLike } from './volumes.js';

const A = ANNOTATIONS;

const V = {
  data: { name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } },
  scratch: { name: 'scratch', emptyDir: {} },
  host: { name: 'host', hostPath: { path: '/var/log' } },
  secret: { name: 'creds', secret: { secretName: 'db' } },
  config: { name: 'config', configMap: { name: 'db' } },
  token: { name: 'kube-api-access-x1', projected: { sources: [] } },
  downward: { name: 'podinfo', downwardAPI: { items: [] } },
  image: { name: 'models', image: { reference: 'ghcr.io/x/models:1' } },
  csi: { name: 'inline', csi: { driver: 'secrets-store.csi.k8s.io' } },
  nfs: { name: 'shared', nfs: { server: 'nfs', path: '/export' } },
  eph: { name: 'work', ephemeral: { volumeClaimTemplate: {} } },
  block: { name: 'raw', persistentVolumeClaim: { claimName: 'raw-db-0' } },
  missing: { name: 'gone', persistentVolumeClaim: { claimName: 'no-such-claim' } },
  pending: { name: 'late', persistentVolumeClaim: { claimName: 'pending-claim' } },
  excludedClaim: { name: 'cache', persistentVolumeClaim: { claimName: 'cache-db-0' } },
  badClaim: { name: 'odd', persistentVolumeClaim: { claimName: 'odd-claim' } },
  nothing: { name: 'mystery' },
} satisfies Record<string, VolumeLike>;

const CLAIMS = new Map<string, PvcLike>([
  ['data-db-0', { metadata: { uid: 'uid-data' }, spec: { volumeMode: 'Filesystem', volumeName: 'pv-data' }, status: { phase: 'Bound' } }],
  ['db-0-work', { metadata: { uid: 'uid-work' }, spec: { volumeName: 'pv-work' }, status: { phase: 'Bound' } }],
  ['raw-db-0', { metadata: { uid: 'uid-raw' }, spec: { volumeMode: 'Block', volumeName: 'pv-raw' }, status: { phase: 'Bound' } }],
  ['pending-claim', { metadata: { uid: 'uid-p' }, spec: {}, status: { phase: 'Pending' } }],
  ['cache-db-0', { metadata: { uid: 'uid-c', annotations: { [A.pvcExclude]: 'true' } }, spec: { volumeName: 'pv-c' }, status: { phase: 'Bound' } }],
  ['odd-claim', { metadata: { uid: 'uid-o', annotations: { [A.pvcExclude]: 'maybe' } }, spec: { volumeName: 'pv-o' }, status: { phase: 'Bound' } }],
]);

function pod(volumes: VolumeLike[], annotations: Record<string, string> = {}, phase = 'Running', extra: { deletionTimestamp?: string } = {}): PodLike {
  return { metadata: { name: 'db-0', annotations, ...extra }, spec: { volumes, containers: [{ name: 'db' }] }, status: { phase } };
}

const all = (...names: string[]) => ({ [A.backupVolumes]: names.join(',') });

interface Case {
  name: string;
  options: SelectPodVolumesOptions;
  backup: string[];
  skipped: [string, SkipReason][];
  problems?: [string, string][];
}

const cases: Case[] = [
  { name: 'nothing opted in: every volume NotOptedIn', options: { pod: pod([V.data, V.scratch]), claims: CLAIMS }, backup: [], skipped: [['data', 'NotOptedIn'], ['scratch', 'NotOptedIn']] },
  { name: 'opt-in by annotation', options: { pod: pod([V.data, V.scratch], all('data')), claims: CLAIMS }, backup: ['data'], skipped: [['scratch', 'NotOptedIn']] },
  { name: 'opt-in by the Backup\'s includeVolumes', options: { pod: pod([V.data, V.scratch]), claims: CLAIMS, includeVolumes: ['scratch'] }, backup: ['scratch'], skipped: [['data', 'NotOptedIn']] },
  {
    name: 'includeVolumes * selects everything that can be backed up, with reasons for the rest',
    options: { pod: pod([V.data, V.scratch, V.host, V.secret, V.config, V.token, V.downward, V.image, V.csi, V.nfs, V.eph, V.nothing]), claims: CLAIMS, includeVolumes: ['*'] },
    backup: ['data', 'scratch', 'inline', 'shared', 'work'],
    skipped: [
      ['host', 'HostPath'],
      ['creds', 'Secret'],
      ['config', 'ConfigMap'],
      ['kube-api-access-x1', 'Projected'],
      ['podinfo', 'DownwardAPI'],
      ['models', 'Image'],
      ['mystery', 'UnknownSource'],
    ],
  },
  {
    name: 'opting in a secret or hostPath still skips it with its reason',
    options: { pod: pod([V.secret, V.host], all('creds', 'host')), claims: CLAIMS },
    backup: [],
    skipped: [['creds', 'Secret'], ['host', 'HostPath']],
  },
  {
    name: 'pod annotation exclude wins over includeVolumes *',
    options: { pod: pod([V.data, V.scratch], { [A.backupVolumesExcludes]: 'scratch' }), claims: CLAIMS, includeVolumes: ['*'] },
    backup: ['data'],
    skipped: [['scratch', 'ExcludedByAnnotation']],
  },
  {
    name: 'Backup excludeVolumes wins over the pod opt-in',
    options: { pod: pod([V.data, V.scratch], all('data', 'scratch')), claims: CLAIMS, excludeVolumes: ['data'] },
    backup: ['scratch'],
    skipped: [['data', 'ExcludedByBackup']],
  },
  {
    name: 'claims: block mode (selected as a device), missing, pending, excluded by annotation',
    options: { pod: pod([V.block, V.missing, V.pending, V.excludedClaim], all('raw', 'gone', 'late', 'cache')), claims: CLAIMS },
    backup: ['raw'],
    skipped: [['gone', 'PVCNotFound'], ['late', 'PVCNotBound'], ['cache', 'ExcludedByPVC']],
  },
  {
    name: 'an unreadable PVC exclude annotation excludes the claim and is reported',
    options: { pod: pod([V.badClaim], all('odd')), claims: CLAIMS },
    backup: [],
    skipped: [['odd', 'ExcludedByPVC']],
    problems: [[A.pvcExclude, 'maybe']],
  },
  {
    name: 'a pending pod: selected volumes PodNotRunning, others keep their reason',
    options: { pod: pod([V.data, V.scratch, V.secret], all('data', 'creds'), 'Pending'), claims: CLAIMS },
    backup: [],
    skipped: [['data', 'PodNotRunning'], ['scratch', 'NotOptedIn'], ['creds', 'Secret']],
  },
  { name: 'a terminating pod', options: { pod: pod([V.scratch], all('scratch'), 'Running', { deletionTimestamp: '2025-01-01T00:00:00Z' }), claims: CLAIMS }, backup: [], skipped: [['scratch', 'PodNotRunning']] },
  { name: 'a succeeded pod', options: { pod: pod([V.scratch], all('scratch'), 'Succeeded'), claims: CLAIMS }, backup: [], skipped: [['scratch', 'PodNotRunning']] },
  {
    name: 'names in the annotations that match no volume are reported (typos)',
    options: { pod: pod([V.data], { [A.backupVolumes]: 'data,dta', [A.backupVolumesExcludes]: 'cahce' }), claims: CLAIMS },
    backup: ['data'],
    skipped: [],
    problems: [
      [A.backupVolumes, 'dta'],
      [A.backupVolumesExcludes, 'cahce'],
    ],
  },
  {
    name: 'malformed annotations: the valid part is still used and the rest reported',
    options: { pod: pod([V.data, V.scratch], { [A.backupVolumes]: 'data,Scratch', [A.preHookTimeout]: '5' }), claims: CLAIMS },
    backup: ['data'],
    skipped: [['scratch', 'NotOptedIn']],
    problems: [
      [A.backupVolumes, 'Scratch'],
      [A.preHookTimeout, '5'],
    ],
  },
  { name: 'a pod without volumes', options: { pod: { metadata: { name: 'p' }, spec: {}, status: { phase: 'Running' } }, claims: new Map() }, backup: [], skipped: [] },
  { name: 'a pod without spec or metadata', options: { pod: {}, claims: new Map() }, backup: [], skipped: [] },
];

describe('selectPodVolumes', () => {
  for (const c of cases) {
    it(c.name, () => {
      const result = selectPodVolumes(c.options);
      expect(result.backup.map((v) => v.name)).toEqual(c.backup);
      expect(result.skipped.map((v) => [v.name, v.reason])).toEqual(c.skipped);
      expect(result.problems.map((p) => [p.key, p.value])).toEqual(c.problems ?? []);
      const volumes = c.options.pod.spec?.volumes ?? [];
      expect(result.backup.length + result.skipped.length).toBe(volumes.length);
      for (const s of result.skipped) expect(s.message).not.toBe('');
    });
  }

  it('returns the claim identity for PVC and generic ephemeral volumes', () => {
    const result = selectPodVolumes({ pod: pod([V.data, V.eph, V.scratch], all('data', 'work', 'scratch')), claims: CLAIMS });
    expect(result.backup).toEqual([
      { name: 'data', kind: 'persistentVolumeClaim', claim: { name: 'data-db-0', uid: 'uid-data', pvName: 'pv-data' } },
      { name: 'work', kind: 'ephemeral', claim: { name: 'db-0-work', uid: 'uid-work', pvName: 'pv-work' } },
      { name: 'scratch', kind: 'emptyDir' },
    ]);
  });

  it('names the claim in PVC messages and keys claim problems by claim', () => {
    const result = selectPodVolumes({ pod: pod([V.missing, V.badClaim], all('gone', 'odd')), claims: CLAIMS });
    expect(result.skipped[0]?.message).toContain('no-such-claim');
    expect([...result.claimProblems.keys()]).toEqual(['odd-claim']);
  });

  it('passes the parsed hooks and backup command through', () => {
    const result = selectPodVolumes({ pod: pod([V.scratch], { [A.preHookCommand]: 'sync', [A.backupCommand]: '["pg_dumpall"]', [A.backupCommandContainer]: 'db' }), claims: CLAIMS });
    expect(result.annotations.preHook?.command.argv).toEqual(['/bin/sh', '-c', 'sync']);
    expect(result.annotations.backupCommand).toEqual({ command: { argv: ['pg_dumpall'], form: 'json' }, container: 'db' });
  });

  it('checks hook containers against the pod\'s containers', () => {
    const result = selectPodVolumes({ pod: pod([], { [A.preHookCommand]: 'sync', [A.preHookContainer]: 'app' }), claims: CLAIMS });
    expect(result.problems.map((p) => [p.key, p.expected])).toEqual([[A.preHookContainer, expect.stringContaining('this pod has db')]]);
  });

  it('accepts @kubernetes/client-node objects as they are', () => {
    const k8sPod: V1Pod = {
      metadata: { name: 'db-0', namespace: 'shop', uid: 'u', annotations: all('data'), deletionTimestamp: undefined },
      spec: { containers: [{ name: 'db' }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } }, { name: 'tmp', emptyDir: {} }] },
      status: { phase: 'Running' },
    };
    const claim: V1PersistentVolumeClaim = { metadata: { name: 'data-db-0', uid: 'uid-data' }, spec: { volumeName: 'pv-data', volumeMode: 'Filesystem' }, status: { phase: 'Bound' } };
    const result = selectPodVolumes({ pod: k8sPod, claims: new Map([['data-db-0', claim]]) });
    expect(result.backup).toEqual([{ name: 'data', kind: 'persistentVolumeClaim', claim: { name: 'data-db-0', uid: 'uid-data', pvName: 'pv-data' } }]);
    expect(result.skipped).toEqual([{ name: 'tmp', kind: 'emptyDir', reason: 'NotOptedIn', message: expect.stringContaining('backup-volumes') }]);
  });
});

describe('volumeSourceKind', () => {
  it('finds the source field, ignoring null ones', () => {
    expect(volumeSourceKind({ name: 'a', emptyDir: {} })).toBe('emptyDir');
    expect(volumeSourceKind({ name: 'a', hostPath: null, nfs: {} })).toBe('nfs');
    expect(volumeSourceKind({ name: 'a' })).toBeUndefined();
  });
});
