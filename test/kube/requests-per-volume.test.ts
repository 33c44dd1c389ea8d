/**
 * The coordinator's API requests per volume do not grow with the size of a Backup, on the
 * real kube-apiserver (the bench of test/bench/cluster-scale.ts, small: 10 and then 40
 * annotated pods on 4 nodes, simulated agents answering at once).
 *
 * Per volume the coordinator needs about a dozen requests: create the PodVolumeBackup; read
 * it fresh on each of its ~3 reconciles (assign, result, finish); ~2 status writes; read the
 * pod once; and the job's repository (BackupRepository, BackupLocation, the key Secret and the
 * credentials Secret). The Backup's own requests (one list of pods, claims and history,
 * status writes) are shared by all its volumes. So 16 per volume is a ceiling with room for a
 * retried conflict, and the larger Backup must not need more per volume than the smaller: a
 * list or scan per volume, or re-reading the whole Backup per result, would break both.
 */
import { describe, expect, it } from 'vitest';
import { runClusterScale } from '../bench/cluster-scale-run.js';

const CEILING = 16;

describe('API requests per volume on the real API server', () => {
  it(`stay under ${CEILING} and do not grow from 10 to 40 volumes`, async () => {
    const small = await runClusterScale({ pods: 10, nodes: 4 });
    const large = await runClusterScale({ pods: 40, nodes: 4 });
    const perVolume = (r: typeof small) => r.volumeRequests / r.pods;
    const detail = JSON.stringify({ small: small.requests, large: large.requests });
    expect(small.reassigned + large.reassigned).toBe(0);
    expect(perVolume(small), detail).toBeLessThanOrEqual(CEILING);
    expect(perVolume(large), detail).toBeLessThanOrEqual(CEILING);
    // Fixed costs shrink per volume as the Backup grows; the slack covers a few timing-dependent re-reads.
    expect(perVolume(large), detail).toBeLessThanOrEqual(perVolume(small) + 0.5);
  }, 400_000);
});
