/** The claim flags of `restore create` reach the request as target_claims, storage_class_map and force. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addClaimOptions, claimFields, type ClaimFlags } from './restore-claims.js';

function parse(argv: string[]): ClaimFlags {
  const program = new Command().exitOverride();
  const create = addClaimOptions(program.command('create')).action(() => undefined);
  program.parse(['node', 'ferry', 'create', ...argv]);
  return create.opts<ClaimFlags>();
}

const blank = { namespace: '', storageClassName: '', storage: '', accessModes: [] };

describe('restore create claim flags', () => {
  it('--to-new-claim alone is every claim; with a list, each OLD=NEW or OLD', () => {
    expect(claimFields(parse(['--to-new-claim'])).targetClaims).toEqual([{ claim: '*', name: '', existing: false, ...blank }]);
    expect(claimFields(parse(['--to-new-claim', 'data=copy,logs', '--to-new-claim', 'db=db2'])).targetClaims).toEqual([
      { claim: 'data', name: 'copy', existing: false, ...blank },
      { claim: 'logs', name: '', existing: false, ...blank },
      { claim: 'db', name: 'db2', existing: false, ...blank },
    ]);
  });

  it('--to-existing-claim, --force and --storage-class-map', () => {
    const f = claimFields(parse(['--to-existing-claim', 'data=scratch', '--force', '--to-new-claim', 'logs', '--storage-class-map', 'standard=fast,slow=fast']));
    expect(f.targetClaims).toEqual([{ claim: 'logs', name: '', existing: false, ...blank }, { claim: 'data', name: 'scratch', existing: true, ...blank }]);
    expect(f.storageClassMap).toEqual({ standard: 'fast', slow: 'fast' });
    expect(f.force).toBe(true);
  });

  it('refuses flags that would do nothing or cannot be meant', () => {
    expect(() => claimFields(parse(['--force']))).toThrow(/--force waits .* add --to-existing-claim/);
    expect(() => claimFields(parse(['--storage-class-map', 'a=b']))).toThrow(/add --to-new-claim/);
    expect(() => claimFields(parse(['--to-new-claim', '*=x']))).toThrow(/keeps the claims' names/);
    expect(() => claimFields(parse(['--to-existing-claim', 'data=']))).toThrow(/expected OLD=NEW or OLD/);
  });

  it('gives empty fields without the flags', () => {
    expect(claimFields(parse([]))).toEqual({ targetClaims: [], storageClassMap: {}, force: false });
  });
});
