/**
 * Finds a pod volume's directory the way the kubelet lays it out:
 *
 *   <pods-dir>/<pod-uid>/volumes/<escaped-plugin>/<dir>
 *
 * where <escaped-plugin> is the plugin name with '/' replaced by '~'
 * (`kubernetes.io~empty-dir`, `kubernetes.io~csi`, `kubernetes.io~nfs`...) and <dir> is
 * the volume name for emptyDir and other in-pod volumes, the PV name for non-CSI
 * persistent volumes and `<pv>/mount` for CSI ones. Raw block volumes (volumeDevices) are
 *
 *   <pods-dir>/<pod-uid>/volumeDevices/<escaped-plugin>/<pv-name>
 *
 * a symlink the kubelet points at the device (or at the CSI driver's published device file
 * under the kubelet's plugins directory; kubelet MapBlockVolume/volumepathhandler.MapDevice).
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { AgentError } from './errors.js';
import type { VolumeSpec } from './job-spec.js';

export const EMPTY_DIR_PLUGIN = 'kubernetes.io~empty-dir';
export const CSI_PLUGIN = 'kubernetes.io~csi';

export interface ResolveVolumeOptions {
  readonly podsDir: string;
  readonly volume: VolumeSpec;
}

export interface ResolvedVolume {
  /** The volume's directory with every symlink resolved. */
  readonly path: string;
  /** The escaped plugin directory it was found under. */
  readonly plugin: string;
  /** A raw block volume: `path` is its device file (or a regular file standing in for one). */
  readonly block: boolean;
}

/** The path below the plugin directory, and the plugins worth looking in. */
export function volumeLayout(volume: VolumeSpec): { dir: string; plugins: readonly string[] | 'any' } {
  const narrowed = volume.pluginDir ? [volume.pluginDir] : undefined;
  switch (volume.kind) {
    case 'emptyDir':
      return { dir: volume.volumeName, plugins: narrowed ?? [EMPTY_DIR_PLUGIN] };
    case 'inPod':
      return { dir: volume.volumeName, plugins: narrowed ?? 'any' };
    case 'persistent':
      return { dir: volume.pvName ?? '', plugins: narrowed ?? 'any' };
    case 'csiPersistent':
      return { dir: join(volume.pvName ?? '', 'mount'), plugins: narrowed ?? [CSI_PLUGIN] };
    case 'csiEphemeral':
      return { dir: join(volume.volumeName, 'mount'), plugins: narrowed ?? [CSI_PLUGIN] };
  }
}

function describe(volume: VolumeSpec): string {
  return `volume ${JSON.stringify(volume.volumeName)} of pod ${volume.namespace}/${volume.podName} (uid ${volume.podUid})`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

export async function resolveVolume(options: ResolveVolumeOptions): Promise<ResolvedVolume> {
  const { volume } = options;
  const podsDir = await realpath(options.podsDir).catch((cause: unknown) => {
    throw new AgentError('VolumeNotFound', `pods directory ${options.podsDir} does not exist: set --pods-dir to the kubelet's pods directory (default /var/lib/kubelet/pods) and mount it into the agent`, { cause });
  });
  const podDir = join(podsDir, volume.podUid);
  if (!(await exists(podDir))) {
    throw new AgentError('VolumeNotFound', `${describe(volume)}: no directory ${podDir}; is the pod running on this node, and is --pods-dir the kubelet's pods directory?`);
  }
  if (volume.block) return resolveBlockVolume(volume, podsDir, podDir);
  const layout = volumeLayout(volume);
  const volumesDir = join(podDir, 'volumes');
  const plugins = layout.plugins === 'any' ? await listDir(volumesDir) : layout.plugins;
  const matches: { plugin: string; path: string }[] = [];
  for (const plugin of plugins) {
    const candidate = join(volumesDir, plugin, layout.dir);
    if (await exists(candidate)) matches.push({ plugin, path: candidate });
  }
  if (matches.length === 0) throw await notFound(volume, podDir, layout.dir);
  if (matches.length > 1) {
    throw new AgentError('VolumeAmbiguous', `${describe(volume)}: ${matches.length} directories match ${layout.dir} (${matches.map((m) => m.plugin).join(', ')}); set the volume's plugin_dir to pick one`);
  }
  const match = matches[0]!;
  const real = await realpath(match.path);
  if (!real.startsWith(podDir + sep)) {
    throw new AgentError('VolumeOutsidePodsDir', `${describe(volume)}: ${match.path} resolves to ${real}, outside the pod's directory ${podDir}; refusing to follow the symlink`);
  }
  if (!(await stat(real)).isDirectory()) throw new AgentError('VolumeNotFound', `${describe(volume)}: ${real} is not a directory`);
  return { path: real, plugin: match.plugin, block: false };
}

/**
 * The device of a raw block volume. The kubelet's link leaves the pod directory by design,
 * so it may lead only to a device under /dev or to a file in the kubelet's own directory.
 */
async function resolveBlockVolume(volume: VolumeSpec, podsDir: string, podDir: string): Promise<ResolvedVolume> {
  const devicesDir = join(podDir, 'volumeDevices');
  const name = volume.pvName ?? volume.volumeName;
  const plugins = volume.pluginDir ? [volume.pluginDir] : await listDir(devicesDir);
  const matches: string[] = [];
  for (const plugin of plugins) if (await exists(join(devicesDir, plugin, name))) matches.push(plugin);
  if (matches.length === 0) throw new AgentError('VolumeNotFound', `${describe(volume)} is a block volume but nothing is at ${join(devicesDir, '<plugin>', name)} (plugins present: ${plugins.join(', ') || 'none'}); is the pod running on this node?`);
  if (matches.length > 1) throw new AgentError('VolumeAmbiguous', `${describe(volume)}: ${matches.length} block devices match ${name} (${matches.join(', ')}); set the volume's plugin_dir to pick one`);
  const plugin = matches[0]!;
  const link = join(devicesDir, plugin, name);
  const real = await realpath(link);
  const kubeletDir = dirname(podsDir);
  if (!real.startsWith('/dev/') && !real.startsWith(kubeletDir + sep)) {
    throw new AgentError('VolumeOutsidePodsDir', `${describe(volume)}: ${link} resolves to ${real}, neither under /dev nor under the kubelet directory ${kubeletDir}; refusing to follow the symlink`);
  }
  const st = await stat(real);
  if (!st.isBlockDevice() && !st.isFile()) throw new AgentError('VolumeNotFound', `${describe(volume)}: ${real} is not a block device`);
  return { path: real, plugin, block: true };
}

async function notFound(volume: VolumeSpec, podDir: string, dir: string): Promise<AgentError> {
  for (const plugin of await listDir(join(podDir, 'volumeDevices'))) {
    if (await exists(join(podDir, 'volumeDevices', plugin, dir.split(sep)[0] ?? dir))) {
      return new AgentError('VolumeIsBlock', `${describe(volume)} is a raw block volume (found under volumeDevices/${plugin}) but the job asked for a filesystem volume; back it up with volumeMode Block`);
    }
  }
  const present = await listDir(join(podDir, 'volumes'));
  const seen = present.length > 0 ? `plugins present: ${present.slice(0, 10).join(', ')}` : 'the pod has no volumes directory';
  return new AgentError('VolumeNotFound', `${describe(volume)}: nothing at ${join(podDir, 'volumes', '<plugin>', dir)} (${seen}); check the volume kind and PV name the coordinator sent`);
}
