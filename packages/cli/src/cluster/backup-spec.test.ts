/** The flags of `backup create` and `schedule create` reach the request: --exclude from the parent or the command itself. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { backupRequest, backupSpecOptions, type BackupSpecFlags } from './backup-spec.js';
import { collect } from './command.js';

function parse(argv: string[], parentDefines: boolean): BackupSpecFlags {
  const program = new Command().exitOverride();
  const parent = program.command('backup');
  if (parentDefines) parent.option('--tag <tag>', '', collect, []).option('--exclude <glob>', '', collect, []);
  const create = backupSpecOptions(parent.command('create'), !parentDefines).action(() => undefined);
  program.parse(['node', 'ferry', 'backup', 'create', ...argv]);
  return create.optsWithGlobals<BackupSpecFlags>();
}

describe('--exclude', () => {
  it('is read through the parent (backup create) and from the command (schedule create)', () => {
    for (const parentDefines of [true, false]) {
      const req = backupRequest(parse(['--exclude', 'cache', '--exclude', '/tmp/**'], parentDefines), { namespace: 'shop', name: 'b' });
      expect(req.excludes, `parent defines it: ${parentDefines}`).toEqual(['cache', '/tmp/**']);
    }
  });

  it('is empty when not given', () => {
    expect(backupRequest(parse([], true), { namespace: 'shop', name: 'b' }).excludes).toEqual([]);
  });
});
