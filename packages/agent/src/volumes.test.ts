import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAgentError, type AgentErrorCode } from './errors.js';
import type { VolumeSpec } from './job-spec.js';
import { kubeletBlockVolume, kubeletSymlinkVolume, kubeletVolume } from './test-hub.fixture.js';
import { resolveVolume } from './volumes.js';

let root: string;
let podsDir: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-volumes-'));
  podsDir = join(root, 'var', 'lib', 'kubelet', 'pods');
  await mkdir(podsDir, { recursive: true });
});
afterEach(() => rm(root, { recursive: true, force: true }));

function volume(partial: Partial<VolumeSpec>): VolumeSpec {
  return { namespace: 'ns', podName: 'p', podUid: 'uid-1', volumeName: 'data', kind: 'emptyDir', block: false, ...partial };
}

async function failsWith(spec: VolumeSpec, code: AgentErrorCode, text: string): Promise<void> {
  const err = await resolveVolume({ podsDir, volume: spec }).catch((e: unknown) => e);
  expect(isAgentError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toContain(text);
}

describe('resolveVolume (kubelet layout)', () => {
  it('finds an emptyDir under kubernetes.io~empty-dir/<volume>', async () => {
    const dir = await kubeletVolume(podsDir, 'uid-1', 'kubernetes.io~empty-dir', 'data');
    expect(await resolveVolume({ podsDir, volume: volume({}) })).toEqual({ path: dir, plugin: 'kubernetes.io~empty-dir', block: false });
  });

  it('finds a CSI PVC under kubernetes.io~csi/<pv>/mount', async () => {
    const dir = await kubeletVolume(podsDir, 'uid-1', 'kubernetes.io~csi', 'pvc-abc/mount');
    expect((await resolveVolume({ podsDir, volume: volume({ kind: 'csiPersistent', pvName: 'pvc-abc' }) })).path).toBe(dir);
  });

  it('finds a non-CSI PVC under whichever plugin holds <pv>', async () => {
    const dir = await kubeletVolume(podsDir, 'uid-1', 'kubernetes.io~nfs', 'pv-nfs-1');
    await kubeletVolume(podsDir, 'uid-1', 'kubernetes.io~empty-dir', 'cache');
    expect(await resolveVolume({ podsDir, volume: volume({ kind: 'persistent', pvName: 'pv-nfs-1' }) })).toEqual({ path: dir, plugin: 'kubernetes.io~nfs', block: false });
  });

  it('works under another kubelet root (TKGI) and through a symlinked pods dir', async () => {
    const tkgi = join(root, 'var', 'vcap', 'data', 'kubelet', 'pods');
    await mkdir(tkgi, { recursive: true });
    const dir = await kubeletVolume(tkgi, 'uid-1', 'kubernetes.io~empty-dir', 'data');
    await symlink(tkgi, join(root, 'pods-link'));
    expect((await resolveVolume({ podsDir: join(root, 'pods-link'), volume: volume({}) })).path).toBe(dir);
  });

  it('reports a missing pod and a missing volume', async () => {
    await failsWith(volume({ podUid: 'not-here' }), 'VolumeNotFound', 'is the pod running on this node');
    await kubeletVolume(podsDir, 'uid-1', 'kubernetes.io~empty-dir', 'other');
    await failsWith(volume({}), 'VolumeNotFound', 'plugins present: kubernetes.io~empty-dir');
    await failsWith(volume({}), 'VolumeNotFound', 'kubernetes.io~empty-dir');
  });

  it('refuses an ambiguous match and accepts it once plugin_dir narrows it', async () => {
    await kubeletVolume(podsDir, 'uid-1', 'kubernetes.io~nfs', 'shared');
    const dir = await kubeletVolume(podsDir, 'uid-1', 'example.com~fuse', 'shared');
    await failsWith(volume({ kind: 'inPod', volumeName: 'shared' }), 'VolumeAmbiguous', '2 directories match shared (example.com~fuse, kubernetes.io~nfs)');
    expect((await resolveVolume({ podsDir, volume: volume({ kind: 'inPod', volumeName: 'shared', pluginDir: 'example.com~fuse' }) })).path).toBe(dir);
  });

  it('refuses a symlink that leads outside the pod directory', async () => {
    const outside = join(root, 'etc-secrets');
    await mkdir(outside);
    await kubeletSymlinkVolume(podsDir, 'uid-1', 'kubernetes.io~empty-dir', 'data', outside);
    await failsWith(volume({}), 'VolumeOutsidePodsDir', `resolves to ${outside}`);
  });

  it('finds a block volume under volumeDevices, following the kubelet link to the published device', async () => {
    const device = await kubeletBlockVolume(podsDir, 'uid-1', 'pvc-blk', 1 << 20);
    const found = await resolveVolume({ podsDir, volume: volume({ kind: 'csiPersistent', pvName: 'pvc-blk', block: true }) });
    expect(found).toEqual({ path: device, plugin: 'kubernetes.io~csi', block: true });
    await failsWith(volume({ kind: 'csiPersistent', pvName: 'pvc-other', block: true }), 'VolumeNotFound', 'is a block volume but nothing is at');
  });

  it('refuses a block volume link that leads outside /dev and the kubelet directory', async () => {
    const outside = join(root, 'not-kubelet.img');
    await writeFile(outside, 'x');
    await mkdir(join(podsDir, 'uid-1', 'volumeDevices', 'kubernetes.io~csi'), { recursive: true });
    await symlink(outside, join(podsDir, 'uid-1', 'volumeDevices', 'kubernetes.io~csi', 'pvc-blk'));
    await failsWith(volume({ kind: 'csiPersistent', pvName: 'pvc-blk', block: true }), 'VolumeOutsidePodsDir', `resolves to ${outside}`);
  });

  it('says so when a job asks for a filesystem but the volume is a block device', async () => {
    await kubeletBlockVolume(podsDir, 'uid-1', 'pvc-blk', 4096);
    await failsWith(volume({ kind: 'csiPersistent', pvName: 'pvc-blk' }), 'VolumeIsBlock', 'found under volumeDevices/kubernetes.io~csi');
  });

  it('names the flag to fix when the pods directory itself is missing', async () => {
    const err = await resolveVolume({ podsDir: join(root, 'nope'), volume: volume({}) }).catch((e: unknown) => e);
    expect(isAgentError(err, 'VolumeNotFound')).toBe(true);
    expect((err as Error).message).toContain('set --pods-dir');
  });
});
