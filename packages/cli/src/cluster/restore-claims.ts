/**
 * The `ferry restore create` flags that restore into claims instead of into pods:
 * --to-new-claim, --to-existing-claim, --storage-class-map and --force, turned into the
 * request's target_claims, storage_class_map and force (Restore.spec.targetClaims...).
 */
import { Option, type Command } from 'commander';
import type { CreateRestoreRequest, TargetClaim } from '@ferry/api';
import { CliError } from '../exit-codes.js';
import { collect } from './command.js';
import { parsePairs } from './backup-spec.js';

export interface ClaimFlags {
  readonly toNewClaim: string[];
  readonly toExistingClaim: string[];
  readonly storageClassMap: string[];
  readonly force?: boolean;
}

export function addClaimOptions(create: Command): Command {
  return create
    .addOption(new Option('--to-new-claim [old=new,...]', 'restore backed-up claims into new claims the coordinator creates: OLD=NEW, or OLD (same name); alone: every backed-up claim (repeatable)').preset('*').argParser(collect).default([]))
    .option('--to-existing-claim <old=existing,...>', 'restore backed-up claim OLD into the existing claim EXISTING, which no pod may mount (OLD alone: the claim of the same name; repeatable)', collect, [])
    .option('--storage-class-map <old=new,...>', 'claims created with --to-new-claim get storage class NEW where the backed-up claim had OLD (repeatable)', collect, [])
    .option('--force', 'with --to-existing-claim: wait until no pod mounts the claim instead of refusing (nothing is scaled down)');
}

function split(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

function target(value: string, flag: string, existing: boolean): TargetClaim {
  const at = value.indexOf('=');
  const claim = at < 0 ? value : value.slice(0, at);
  const name = at < 0 ? '' : value.slice(at + 1);
  if (claim === '' || (at >= 0 && name === '')) throw new CliError(`${flag} "${value}": expected OLD=NEW or OLD`);
  if (claim === '*' && name !== '') throw new CliError(`${flag} "${value}": * (every claim) keeps the claims' names; name claims one by one as OLD=NEW`);
  return { claim, name, existing, namespace: '', storageClassName: '', storage: '', accessModes: [] };
}

export function claimFields(flags: ClaimFlags): Pick<CreateRestoreRequest, 'targetClaims' | 'storageClassMap' | 'force'> {
  const targetClaims = [
    ...split(flags.toNewClaim).map((v) => target(v, '--to-new-claim', false)),
    ...split(flags.toExistingClaim).map((v) => target(v, '--to-existing-claim', true)),
  ];
  if (flags.force === true && !targetClaims.some((t) => t.existing)) throw new CliError('--force waits for pods to stop mounting an existing claim; add --to-existing-claim');
  const storageClassMap = parsePairs(split(flags.storageClassMap), '--storage-class-map');
  if (Object.keys(storageClassMap).length > 0 && !targetClaims.some((t) => !t.existing)) throw new CliError('--storage-class-map applies to the claims a restore creates; add --to-new-claim');
  return { targetClaims, storageClassMap, force: flags.force === true };
}
