/**
 * `ferry backup logs NAME` / `ferry restore logs NAME`: an ended operation's log from the
 * coordinator (GetBackupLogs/GetRestoreLogs), one line per entry as
 * `<time> <level> <source> [<volume>] <message> [<code>]`, or with -o json the lines as the
 * coordinator stored them (JSON lines). `--level warn` keeps warnings and errors.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { OperationLogChunk__Output, OperationLogLine__Output } from '@ferry/api';
import { ExitCode } from '../exit-codes.js';
import { connectionOptions, outputOption, runCluster, type ClusterHost } from './command.js';

const LEVELS = ['info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

function parseLevel(value: string): Level {
  if ((LEVELS as readonly string[]).includes(value)) return value as Level;
  throw new InvalidArgumentError(`expected one of ${LEVELS.join(', ')}`);
}

export function formatLogLine(l: OperationLogLine__Output): string {
  const volume = l.volume ? ` [${l.volume}]` : '';
  const code = l.code ? ` (${l.code})` : '';
  return `${l.time} ${l.level.padEnd(5)} ${l.source}${volume} ${l.message}${code}\n`;
}

export function registerLogsCommand(parent: Command, host: ClusterHost, kind: 'backup' | 'restore'): void {
  const logs = parent
    .command('logs')
    .description(`print an ended ${kind}'s log: agent, hook and coordinator lines, errors and phase changes (cluster)`)
    .argument('<name>')
    .option('--level <level>', 'only lines at this level or worse: info, warn, error', parseLevel);
  connectionOptions(outputOption(logs, 'table|json'));
  logs.action(async (name: string, _o: object, command: Command) => {
    await runCluster<{ level?: Level }>(host, command, async (run) => {
      const req = { namespace: run.conn.namespace, name };
      const min = LEVELS.indexOf(run.flags.level ?? 'info');
      const stream = run.conn.stream<OperationLogChunk__Output>((md) => (kind === 'backup' ? run.conn.backups.getBackupLogs(req, md) : run.conn.restores.getRestoreLogs(req, md)));
      try {
        for await (const chunk of stream as AsyncIterable<OperationLogChunk__Output>) {
          const wanted = chunk.lines.filter((l) => LEVELS.indexOf(l.level as Level) >= min);
          run.out(wanted.map((l) => (run.output === 'json' ? `${JSON.stringify(l)}\n` : formatLogLine(l))).join(''));
        }
      } catch (err) {
        throw run.conn.fail(err);
      }
      return ExitCode.ok;
    });
  });
}
