import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  addKey,
  changeKey,
  describeToken,
  exportKey,
  importKey,
  isRepositoryError,
  listKeys,
  removeKey,
  type Credential,
  type KeyInfo,
  type Repository,
} from '@ferry/repository';
import { readClusterKeyFile, readOtherPassword } from '../cluster-key.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { writeWithBackpressure, type CliIO } from '../io.js';
import type { Reporter } from '../reporter.js';
import { openRepository, openRepositoryStore, readCredential, repositoryLocation, type GlobalOptions, type SessionOptions } from '../session.js';
import type { CommandHost } from './host.js';
import type { CommandResult } from './result.js';

const ok: CommandResult = { exitCode: ExitCode.ok };

export async function keyListCommand(repository: Repository, reporter: Reporter, out: CliIO['stdout']): Promise<CommandResult> {
  const keys = await listKeys(repository);
  if (reporter.mode === 'json') {
    for (const k of keys) reporter.record({ type: 'key', ...keyJson(k) });
    reporter.summary({ command: 'key list', count: keys.length }, []);
    return ok;
  }
  const rows = keys.map((k) => [k.current ? '*' : ' ', k.id, k.kind, k.label, `${k.user}@${k.host}`, k.created.replace('T', ' ').replace(/\.\d+Z$/, 'Z')]);
  const header = [' ', 'ID', 'Kind', 'Label', 'Created by', 'Created'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd() + '\n';
  await writeWithBackpressure(out, line(header) + rows.map(line).join('') + `${keys.length} key slot(s); * opened this session\n`);
  return ok;
}

function keyJson(k: KeyInfo): Record<string, unknown> {
  return { id: k.id, kind: k.kind, label: k.label, created: k.created, host: k.host, user: k.user, current: k.current };
}

/** The session with --cluster-key-file taken out: for `key add` it names the new slot's key, not the opening one. */
function withoutClusterKeyFile(s: SessionOptions): SessionOptions {
  const { clusterKeyFile: _unused, ...global } = s.global;
  return { ...s, global };
}

async function newPassword(s: SessionOptions, file: string | undefined, what: string): Promise<Credential> {
  const password = await readOtherPassword({
    io: s.io,
    envName: 'FERRY_NEW_PASSWORD',
    flag: '--new-password-file',
    what,
    confirm: true,
    ...(file !== undefined ? { file } : {}),
    ...(s.signal !== undefined ? { signal: s.signal } : {}),
  });
  s.context.secrets.push(password);
  return { kind: 'password', password };
}

async function tokenPassword(s: SessionOptions, file: string | undefined, confirm: boolean): Promise<string> {
  const password = await readOtherPassword({
    io: s.io,
    envName: 'FERRY_TOKEN_PASSWORD',
    flag: '--token-password-file',
    what: 'token password',
    confirm,
    ...(file !== undefined ? { file } : {}),
    ...(s.signal !== undefined ? { signal: s.signal } : {}),
  });
  s.context.secrets.push(password);
  return password;
}

function slotLines(verb: string, k: KeyInfo): string[] {
  return [`${verb} ${k.kind} key slot ${k.id}${k.label !== '' ? ` (${k.label})` : ''}`];
}

interface AddFlags {
  label?: string;
  newPasswordFile?: string;
}

async function keyAdd(host: CommandHost, command: Command, flags: AddFlags): Promise<void> {
  const { global, reporter, session } = host.prepare(command);
  const repository = await openRepository(withoutClusterKeyFile(session));
  try {
    const credential: Credential =
      global.clusterKeyFile !== undefined
        ? { kind: 'cluster', key: await readClusterKeyFile(global.clusterKeyFile) }
        : await newPassword(session, flags.newPasswordFile, 'new password');
    const added = await addKey(repository, credential, flags.label !== undefined ? { label: flags.label } : {});
    reporter.summary({ command: 'key add', ...keyJson(added) }, slotLines('added', added));
    host.setExit(ExitCode.ok);
  } finally {
    reporter.close();
    await repository.close();
  }
}

async function keyPasswd(repository: Repository, reporter: Reporter, session: SessionOptions, flags: AddFlags): Promise<CommandResult> {
  const current = (await listKeys(repository)).find((k) => k.current);
  if (current?.kind !== 'password') {
    throw new CliError('this session opened the repository with a cluster key; "key passwd" changes a password slot: open it with its password, or use "key add" and "key remove"');
  }
  const credential = await newPassword(session, flags.newPasswordFile, 'new repository password');
  const added = await changeKey(repository, credential, { label: flags.label ?? current.label });
  reporter.summary({ command: 'key passwd', replaced: current.id, ...keyJson(added) }, [`changed the password: key slot ${current.id} replaced by ${added.id}`]);
  return ok;
}

interface ExportFlags {
  location?: string;
  includeKey?: boolean;
  force?: boolean;
  tokenPasswordFile?: string;
}

/** Where the importing side reaches the repository: the given location, a local path made absolute. */
function exportLocation(global: GlobalOptions, session: SessionOptions, flags: ExportFlags): string {
  if (flags.location !== undefined) return flags.location;
  const location = repositoryLocation(global, session.io);
  return location.startsWith('s3:') ? location : resolve(location);
}

async function keyExport(repository: Repository, reporter: Reporter, host: CommandHost, command: Command, flags: ExportFlags): Promise<CommandResult> {
  const { global, session } = host.prepare(command);
  if (flags.includeKey === true && flags.force !== true) {
    throw new CliError('refusing to put the master key in a token in the clear: anyone holding the token can read every backup; add --force if you mean it, or leave out --include-key to protect the token with a password');
  }
  const location = exportLocation(global, session, flags);
  const password = flags.includeKey === true ? undefined : await tokenPassword(session, flags.tokenPasswordFile, true);
  const token = await exportKey(repository, {
    location,
    ...(password !== undefined ? { password } : { includeKey: true, force: true }),
  });
  const wrapped = password !== undefined;
  if (reporter.mode === 'json') {
    reporter.summary({ command: 'key export', repositoryId: repository.id, location, wrapped, token }, []);
    return ok;
  }
  await writeWithBackpressure(host.io.stdout, `${token}\n`);
  reporter.info(
    wrapped
      ? `key token for repository ${repository.id} at ${location}, protected by the token password; on the other side run: ferry key import TOKEN`
      : `key token for repository ${repository.id} at ${location} with the master key IN THE CLEAR: keep it as secret as the data`,
  );
  return ok;
}

interface ImportFlags {
  tokenPasswordFile?: string;
  label?: string;
}

async function keyImport(host: CommandHost, command: Command, token: string, flags: ImportFlags): Promise<void> {
  const prepared = host.prepare(command);
  const { reporter } = prepared;
  prepared.session.context.secrets.push(token.trim());
  try {
    const described = describeToken(token);
    // The token says where the repository is; --repo / FERRY_REPOSITORY may say otherwise (a mirror, another endpoint).
    const given = prepared.global.repo ?? host.io.env['FERRY_REPOSITORY'];
    const global = given !== undefined && given !== '' ? prepared.global : { ...prepared.global, repo: described.location };
    const session: SessionOptions = { ...prepared.session, global };
    const store = openRepositoryStore(session);
    const tokenPass = described.wrapped ? await tokenPassword(session, flags.tokenPasswordFile, false) : undefined;
    const credential = await readCredential(session, true);
    const result = await importKey({
      store,
      token,
      credential,
      ...(tokenPass !== undefined ? { tokenPassword: tokenPass } : {}),
      ...(flags.label !== undefined ? { label: flags.label } : {}),
    }).catch((err: unknown) => {
      // The generic wrong-password text would point at FERRY_PASSWORD, which is not the one at fault.
      if (isRepositoryError(err, 'WrongPassword')) return undefined;
      throw err;
    });
    if (result === undefined) {
      host.io.stderr.write('ferry: wrong password for the key token: check FERRY_TOKEN_PASSWORD or --token-password-file (the password given to "ferry key export")\n');
      host.setExit(ExitCode.wrongPassword);
      return;
    }
    reporter.summary(
      { command: 'key import', repositoryId: result.repositoryId, slot: result.slotId, kind: credential.kind, repository: store.description },
      [`added ${credential.kind} key slot ${result.slotId} to repository ${result.repositoryId} at ${store.description}`],
    );
    host.setExit(ExitCode.ok);
  } finally {
    reporter.close();
  }
}

export function registerKeyCommand(program: Command, host: CommandHost): void {
  const key = program
    .command('key')
    .description('manage the key slots that open the repository (passwords and cluster keys) and move keys between clusters');

  key
    .command('list')
    .description('list the key slots; * marks the one that opened this session')
    .action(async (_opts: object, command: Command) => {
      await host.withRepository(command, (repository, reporter) => keyListCommand(repository, reporter, host.io.stdout));
    });

  key
    .command('add')
    .description('add a key slot: for a new password (--new-password-file, FERRY_NEW_PASSWORD or a prompt), or with --cluster-key-file F for a cluster key (32 bytes or 64 hex chars)')
    .option('--label <label>', 'label of the new slot (default: this host)')
    .option('--new-password-file <file>', 'read the new password from a file (env FERRY_NEW_PASSWORD otherwise)')
    .addHelpText('after', '\nHere --cluster-key-file names the key of the NEW slot; the repository is opened with its password\n(--password-file, FERRY_PASSWORD, FERRY_CLUSTER_KEY or a prompt).\n')
    .action(async (flags: AddFlags, command: Command) => keyAdd(host, command, flags));

  key
    .command('remove')
    .description('remove a key slot (not the last one, not the one in use)')
    .argument('<id>', 'slot id or a unique prefix of at least 4 characters (see "ferry key list")')
    .action(async (id: string, _opts: object, command: Command) => {
      await host.withRepository(command, async (repository, reporter) => {
        const target = (await listKeys(repository)).find((k) => k.id === id || (id.length >= 4 && k.id.startsWith(id)));
        await removeKey(repository, id);
        const removed = target?.id ?? id;
        reporter.summary({ command: 'key remove', id: removed }, [`removed key slot ${removed}`]);
        return ok;
      });
    });

  key
    .command('passwd')
    .description('change the password of the slot in use (new password from --new-password-file, FERRY_NEW_PASSWORD or a prompt)')
    .option('--new-password-file <file>', 'read the new password from a file (env FERRY_NEW_PASSWORD otherwise)')
    .option('--label <label>', 'label of the replacing slot (default: the old label)')
    .action(async (flags: AddFlags, command: Command) => {
      const { session } = host.prepare(command);
      await host.withRepository(command, (repository, reporter) => keyPasswd(repository, reporter, session, flags));
    });

  key
    .command('export')
    .description('print a token (repository location, id and the master key wrapped for a token password) for "ferry key import" elsewhere')
    .option('--location <url>', 'where the importing side reaches the repository (default: --repo)')
    .option('--token-password-file <file>', 'read the token password from a file (env FERRY_TOKEN_PASSWORD otherwise)')
    .option('--include-key', 'put the master key in the token in the clear instead (needs --force)')
    .option('--force', 'allow --include-key')
    .action(async (flags: ExportFlags, command: Command) => {
      await host.withRepository(command, (repository, reporter) => keyExport(repository, reporter, host, command, flags));
    });

  key
    .command('import')
    .description('add a slot for this machine\'s password or cluster key from a token of "ferry key export"')
    .argument('<token>', 'the token')
    .option('--token-password-file <file>', 'read the token password from a file (env FERRY_TOKEN_PASSWORD otherwise)')
    .option('--label <label>', 'label of the new slot (default: imported)')
    .addHelpText('after', '\nThe new slot opens with this machine\'s credential: --cluster-key-file / FERRY_CLUSTER_KEY, or\n--password-file / FERRY_PASSWORD / a prompt. The repository is the token\'s location unless --repo is given.\n')
    .action(async (token: string, flags: ImportFlags, command: Command) => keyImport(host, command, token, flags));
}
