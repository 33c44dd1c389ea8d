/**
 * ferry.v1.Transfer: export and import of backups and repository keys. The logic lives in
 * ../transfer/ (built separately); until it is wired here every method answers
 * UNIMPLEMENTED. Replace `transferHandlers` with the real handlers, built with `unary`
 * from ./rpc.js so they authenticate and map errors like every other service: export needs
 * get on backups and backuprepositories, import needs create on backups (docs/api.md).
 */
import type { TransferHandlers } from '@ferry/api';
import { CoordinatorError } from '../errors.js';
import { unary, type ApiContext } from './rpc.js';

const notYet = (method: string) => async (): Promise<never> => {
  throw new CoordinatorError('Unsupported', `ferry.v1.Transfer/${method} is not available on this coordinator yet; export or import with the ferry CLI against the repository directly`);
};

export function transferHandlers(ctx: ApiContext): TransferHandlers {
  return {
    ExportBackup: unary(ctx, 'ExportBackup', notYet('ExportBackup')),
    ImportBackup: unary(ctx, 'ImportBackup', notYet('ImportBackup')),
    ExportKey: unary(ctx, 'ExportKey', notYet('ExportKey')),
    ImportKey: unary(ctx, 'ImportKey', notYet('ImportKey')),
  };
}
