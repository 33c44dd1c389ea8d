/**
 * The flags that describe what a cluster backup takes (`backup create` and the template of
 * `schedule create`), and the CreateBackupRequest they make.
 */
import { Option, type Command } from 'commander';
import type { CreateBackupRequest, PodVolumeRef } from '@ferry/api';
import { CliError } from '../exit-codes.js';
import { collect } from './command.js';

export interface BackupSpecFlags {
  readonly selector?: string;
  readonly volume: string[];
  readonly location?: string;
  readonly mover?: string;
  readonly tag: string[];
  /** Absent when neither this command nor its parent defines --exclude. */
  readonly exclude?: string[];
  readonly volumeTimeout?: string;
  readonly purgeOnDelete?: boolean;
  readonly label: string[];
  readonly includeNamespace: string[];
  readonly ttl?: string;
  readonly includeVolume: string[];
  readonly excludeVolume: string[];
}

/**
 * `--tag` and `--exclude` are left out when the parent command (the local `ferry backup`) already defines them:
 * commander lets the parent consume it, and the value is read through optsWithGlobals.
 */
const EXCLUDE_HELP = 'path glob not to back up inside each volume: no "/" = a name at any depth, with "/" = from the volume root, ** across directories (repeatable)';

export function backupSpecOptions(command: Command, withTag = true): Command {
  command
    .option('-l, --selector <selector>', 'label selector over the namespace\'s pods (default: every pod with backup annotations)')
    .option('--volume <pod[:vol,...]>', 'back up this pod\'s volumes (all it has, or the listed ones) instead of the annotations (repeatable)', collect, [])
    .option('--location <name>', 'BackupLocation (default: the default location)')
    .addOption(new Option('--mover <mover>', 'data mover').choices(['native', 'restic']))
    .option('--volume-timeout <duration>', 'per-volume timeout, e.g. 4h')
    .option('--purge-on-delete', 'forget the snapshots in the repository when the Backup is deleted')
    .option('--label <key=value>', 'label on the Backup (repeatable)', collect, [])
    .option('--include-namespace <ns>', 'back up this namespace (repeatable; names other than -n only from the coordinator\'s namespace)', collect, [])
    .option('--ttl <duration>', 'keep the finished Backup this long, e.g. 720h')
    .option('--include-volume <name>', 'back up volumes with this name (or *) even without annotations (repeatable)', collect, [])
    .option('--exclude-volume <name>', 'never back up volumes with this name (repeatable)', collect, []);
  if (withTag) {
    command.option('--tag <tag>', 'tag the snapshots (repeatable)', collect, []);
    command.option('--exclude <glob>', EXCLUDE_HELP, collect, []);
  }
  return command;
}

export function backupRequest(flags: BackupSpecFlags, target: { namespace: string; name: string }): CreateBackupRequest {
  return {
    namespace: target.namespace,
    name: target.name,
    podSelector: flags.selector ?? '',
    volumes: flags.volume.map(parseVolumeRef),
    location: flags.location ?? '',
    mover: flags.mover ?? '',
    tags: flags.tag,
    excludes: flags.exclude ?? [],
    volumeTimeout: flags.volumeTimeout ?? '',
    purgeOnDelete: flags.purgeOnDelete === true,
    labels: parsePairs(flags.label, '--label'),
    namespaces: flags.includeNamespace,
    ttl: flags.ttl ?? '',
    includeVolumes: flags.includeVolume,
    excludeVolumes: flags.excludeVolume,
  };
}

/** `web-0` (every volume) or `web-0:data,cache`. */
export function parseVolumeRef(value: string): PodVolumeRef {
  const [pod = '', list] = value.split(':', 2);
  const volumes = list === undefined ? [] : list.split(',').filter((v) => v !== '');
  if (pod === '' || (list !== undefined && volumes.length === 0)) throw new CliError(`--volume "${value}": expected POD or POD:VOLUME[,VOLUME...]`);
  return { pod, volumes };
}

/** `k=v` pairs into a map; `flag` names the option in the error. */
export function parsePairs(values: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at <= 0) throw new CliError(`${flag} "${value}": expected KEY=VALUE`);
    out[value.slice(0, at)] = value.slice(at + 1);
  }
  return out;
}
