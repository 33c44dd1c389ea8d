/**
 * `ferry backup export|import`: a token that lets another cluster restore a backup. The
 * token is the one secret these commands print, and only because the user asked for it;
 * the key password is read from FERRY_EXPORT_PASSWORD or a hidden prompt, never a flag
 * (it would land in shell history and `ps`).
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { ExportBackupResponse__Output, ImportBackupResponse__Output, KeyExport } from '@ferry/api';
import { CliError, ExitCode } from '../exit-codes.js';
import { promptHidden } from '../password.js';
import { connectionOptions, runCluster, type ClusterHost, type ClusterRun } from './command.js';

type KeyMode = 'password' | 'plain' | 'none';

const KEY_EXPORT: Record<KeyMode, KeyExport> = { password: 'KEY_EXPORT_PASSWORD', plain: 'KEY_EXPORT_PLAIN', none: 'KEY_EXPORT_NONE' };

interface ExportFlags {
  readonly key: KeyMode;
  readonly force?: boolean;
  readonly output?: string;
}

export function registerTransferCommands(backup: Command, host: ClusterHost): void {
  const exp = backup
    .command('export')
    .description('print a token that lets another cluster restore this backup (cluster)')
    .argument('<name>')
    .addOption(
      new Option('--key <mode>', 'how the repository key travels: password (FERRY_EXPORT_PASSWORD or a prompt), plain (needs --force), none (the other cluster has it)')
        .choices(['password', 'plain', 'none'])
        .default('password'),
    )
    .option('--force', 'allow --key plain: whoever holds the token can read the backup')
    .option('--output <file>', 'write the token to this file (mode 0600) instead of stdout');
  // Here --key is how the repository key travels (`--key none` reads naturally); the
  // client certificate's key is then --client-key.
  connectionOptions(exp, { tlsKeyFlag: false });
  exp.action(async (name: string, _o: object, command: Command) => {
    await runCluster<ExportFlags>(host, command, (run) => exportBackup(run, name), { tlsKeyFlag: false });
  });

  const imp = backup
    .command('import')
    .description('register the backup a token describes, so it can be restored here (cluster)')
    .argument('<token-or-file>', 'the token, or a file holding it')
    .option('--credentials-secret <name>', "Secret (coordinator's namespace) with S3 credentials, when the token's location is new here");
  connectionOptions(imp);
  imp.action(async (tokenOrFile: string, _o: object, command: Command) => {
    await runCluster<{ credentialsSecret?: string }>(host, command, (run) => importBackup(run, tokenOrFile));
  });
}

async function exportBackup(run: ClusterRun<ExportFlags>, name: string): Promise<number> {
  const { key, force } = run.flags;
  if (key === 'plain' && force !== true) throw new CliError('--key plain puts the repository key in the token unprotected: add --force if the token is stored safely, or use --key password');
  const password = key === 'password' ? await exportPassword(run, true) : '';
  const req = { namespace: run.conn.namespace, name, keyExport: KEY_EXPORT[key], password, force: force === true };
  const res = await run.conn.unary<ExportBackupResponse__Output>((md, opt, cb) => run.conn.transfer.exportBackup(req, md, opt, cb));
  const output = run.flags.output;
  if (output === undefined) {
    run.out(`${res.token}\n`);
    return ExitCode.ok;
  }
  await writeFile(output, `${res.token}\n`, { mode: 0o600 });
  // writeFile's mode applies only to a new file; an existing one keeps its own.
  await chmod(output, 0o600);
  run.note(`wrote the token for backup ${req.namespace}/${name} to ${output} (mode 0600)`);
  return ExitCode.ok;
}

async function importBackup(run: ClusterRun<{ credentialsSecret?: string }>, tokenOrFile: string): Promise<number> {
  const token = await readToken(tokenOrFile);
  run.host.context.secrets.push(token);
  const password = tokenWantsPassword(token) ? await exportPassword(run, false) : '';
  const req = { token, password, namespace: run.flags.namespace ?? '', credentialsSecret: run.flags.credentialsSecret ?? '' };
  const res = await run.conn.unary<ImportBackupResponse__Output>((md, opt, cb) => run.conn.transfer.importBackup(req, md, opt, cb));
  const b = res.backup;
  run.out(`imported backup ${b?.namespace ?? '?'}/${b?.name ?? '?'} (location ${res.location}, repository ${res.repository}); restore it with: ferry restore create --from-backup ${b?.name ?? ''} -n ${b?.namespace ?? ''}\n`);
  return ExitCode.ok;
}

/** A file's content when the argument names a file, else the argument itself. */
async function readToken(tokenOrFile: string): Promise<string> {
  const isFile = await stat(tokenOrFile).then((s) => s.isFile(), () => false);
  const token = (isFile ? await readFile(tokenOrFile, 'utf8') : tokenOrFile).trim();
  if (token === '') throw new CliError(isFile ? `token file ${tokenOrFile} is empty` : 'empty token');
  return token;
}

/**
 * Whether the token carries a password-wrapped key (its JSON has `key.mode: "password"`,
 * docs/export-import.md). A token that does not decode is left for the coordinator to
 * judge, without a password.
 */
export function tokenWantsPassword(token: string): boolean {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { key?: { mode?: unknown } };
    return parsed.key?.mode === 'password';
  } catch {
    return false;
  }
}

async function exportPassword(run: ClusterRun<unknown>, confirm: boolean): Promise<string> {
  const { io, signal } = run.host;
  const fromEnv = io.env['FERRY_EXPORT_PASSWORD'];
  let password = fromEnv;
  if (password === undefined || password === '') {
    if (io.stdin.isTTY !== true || typeof io.stdin.setRawMode !== 'function') {
      throw new CliError('the key travels wrapped for a password: set FERRY_EXPORT_PASSWORD or run on a terminal to be asked (or use --key none if the other cluster already has the key)');
    }
    password = await promptHidden(io, 'Token password: ', signal);
    if (password === '') throw new CliError('empty password refused');
    if (confirm && (await promptHidden(io, 'Repeat password: ', signal)) !== password) throw new CliError('the passwords did not match; no token was made');
  }
  run.host.context.secrets.push(password);
  return password;
}
