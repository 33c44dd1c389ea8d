/**
 * GetBackupLogs / GetRestoreLogs: an ended operation's log, read from its BackupLocation
 * (operation-logs/) and streamed in chunks. A running operation has no log to serve yet:
 * the lines live in the leader's memory only until the operation ends, and serving them
 * from there would show a different log from the one kept, so the call says when to ask
 * again instead (FAILED_PRECONDITION).
 */
import { isTerminalPhase, type GetOperationLogsRequest__Output, type OperationLogChunk } from '@ferry/api';
import { findCondition } from '../conditions.js';
import { LABELS } from '../context.js';
import { clusterFailure, CoordinatorError } from '../errors.js';
import type { BackupObject, RestoreObject } from '../objects.js';
import type { OperationKind } from '../operation-logs/book.js';
import { operationId } from '../operation-logs/ended.js';
import { describeOperation, logLocationName, readLog } from '../operation-logs/store.js';
import { authorize, type Caller } from './auth.js';
import type { ApiContext, StreamSink } from './rpc.js';
import { checkNamed } from './validate.js';

const LINES_PER_CHUNK = 500;

export function operationLogs(kind: OperationKind) {
  return async (ctx: ApiContext, caller: Caller, req: GetOperationLogsRequest__Output, sink: StreamSink<OperationLogChunk>): Promise<void> => {
    checkNamed(req);
    await authorize(ctx.cluster, caller, [{ verb: 'get', resource: kind === 'Backup' ? 'backups' : 'restores', namespace: req.namespace, name: req.name }]);
    const obj = await ctx.cluster.get<BackupObject | RestoreObject>(kind, req.namespace, req.name).catch((err: unknown) => {
      throw clusterFailure(err, { kind, namespace: req.namespace, name: req.name, action: 'read' });
    });
    if (!obj) throw new CoordinatorError('NotFound', `${kind} ${req.namespace}/${req.name} not found`);
    const op = operationId(kind, obj);
    const location = await storedLogLocation(ctx, obj, kind);
    const lines = await readLog(ctx, location, op);
    for (let i = 0; i < lines.length && !sink.signal.aborted; i += LINES_PER_CHUNK) {
      sink.write({ lines: lines.slice(i, i + LINES_PER_CHUNK).map((l) => ({ time: l.time, level: l.level, source: l.source, message: l.msg, volume: l.volume ?? '', code: l.code ?? '' })) });
    }
  };
}

/** Where the log is, or FailedPrecondition saying why there is none to read (yet). */
async function storedLogLocation(ctx: ApiContext, obj: BackupObject | RestoreObject, kind: OperationKind): Promise<string> {
  const op = operationId(kind, obj);
  const what = describeOperation(op);
  const status = obj.status ?? {};
  const verb = kind.toLowerCase();
  if (obj.metadata.labels?.[LABELS.imported] === 'true') throw new CoordinatorError('FailedPrecondition', `${what} was imported from another cluster: its log stayed there; \`ferry ${verb} describe ${op.name}\` shows its volumes`);
  if (!isTerminalPhase(status.phase)) throw new CoordinatorError('FailedPrecondition', `${what} is ${status.phase ?? 'New'}: its log is written when it ends; follow it meanwhile with \`ferry ${verb} describe ${op.name} -n ${op.namespace}\``);
  const stored = findCondition(status.conditions, 'LogStored');
  if (!stored) throw new CoordinatorError('FailedPrecondition', `${what} ended ${status.phase} moments ago and its log is being written; try again in a few seconds`);
  if (stored.status !== 'True') throw new CoordinatorError('FailedPrecondition', `${what} has no stored log (${stored.reason}): ${stored.message}`);
  const location = await logLocationName(ctx, op, obj);
  if (!location) throw new CoordinatorError('NotFound', `the BackupLocation of ${what}'s log is no longer known (its Backup and volumes are gone)`);
  return location;
}
