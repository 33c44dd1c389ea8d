import { readdir, stat } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { isAbsolute, join, relative, resolve as resolvePath } from 'node:path';
import {
  MoverError,
  isMoverError,
  type BackupRequest,
  type BackupResult,
  type CallOptions,
  type CheckRequest,
  type CheckResult,
  type FileError,
  type ForgetDecision,
  type ForgetRequest,
  type ForgetResult,
  type InitResult,
  type Mover,
  type PruneRequest,
  type PruneResult,
  type RemoveSnapshotsRequest,
  type RemoveSnapshotsResult,
  type RepositoryStats,
  type RestoreRequest,
  type RestoreResult,
  type SnapshotSummary,
  type SnapshotsRequest,
  type SourceIdentity,
} from '@ferry/mover';
import { detectRestic, type ResticBinary } from './binary.js';
import { describeRepository, mapResticFailure, redact } from './errors.js';
import { checkTag, identityHost, identityTags, lineageFilter, lineageKey, podVolumeFilter } from './identity.js';
import { isRecord, parseJsonDocument, parseJsonLine, stringField } from './json-lines.js';
import { describeLock, judgeLock, parseLock, parseLockIds, pidAlive, type LockVerdict } from './locks.js';
import { parseCheckProblems, parseForget, parsePrune, parseRestoreErrors, parseSnapshotList, parseStats, retentionFlags } from './parse.js';
import { ProgressThrottle, backupFileError, backupProgress, backupSummary } from './progress.js';
import { restoreTotals, type RestoreTotals } from './restore-totals.js';
import { canceledError, runRestic, type RunResult } from './run.js';

export interface ResticMoverOptions {
  /** restic repository: a directory, `s3:http://host:port/bucket`, `rest:…`, … Passed as RESTIC_REPOSITORY. */
  readonly repository: string;
  /** Passed to restic as RESTIC_PASSWORD (environment, never argv). Give this or `passwordFile`. */
  readonly password?: string;
  /** Passed as RESTIC_PASSWORD_FILE. */
  readonly passwordFile?: string;
  /** Backend settings and credentials, e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default `restic` from PATH. */
  readonly binary?: string;
  /** RESTIC_CACHE_DIR; restic's default (~/.cache/restic) when unset. */
  readonly cacheDir?: string;
  /** This host's name as restic records it in locks; default os.hostname(). */
  readonly hostname?: string;
  /** Wall-clock milliseconds, for lock ages; default Date.now. */
  readonly now?: () => number;
  /** How long restic may take to clean up after SIGINT before its group is SIGKILLed. Default 5000. */
  readonly killGraceMs?: number;
  /** Minimum time between progress reports. Default 250. */
  readonly progressIntervalMs?: number;
}

interface ExecOptions extends CallOptions {
  readonly cwd?: string;
  readonly stdin?: AsyncIterable<Uint8Array>;
  readonly onStdoutLine?: (line: string) => void;
  readonly onStderrLine?: (line: string) => void;
  readonly collectStdout?: boolean;
  /** Exit codes that are not failures for this command (besides 0). */
  readonly accept?: (result: RunResult) => boolean;
}

/** Environment variables a child may inherit from the agent: nothing secret, nothing restic reads for the repository. */
const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'XDG_CACHE_HOME', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

export class ResticMover implements Mover {
  readonly kind = 'restic' as const;
  private readonly options: ResticMoverOptions;
  private binaryInfo: Promise<ResticBinary> | undefined;

  constructor(options: ResticMoverOptions) {
    if ((options.password === undefined) === (options.passwordFile === undefined)) {
      throw new MoverError('InvalidArgument', `restic repository ${describeRepository(options.repository)}: give exactly one of password or passwordFile`);
    }
    this.options = options;
  }

  /** The binary and its version (detected once, on first use). */
  binary(signal?: AbortSignal): Promise<ResticBinary> {
    this.binaryInfo ??= detectRestic({ binary: this.options.binary, signal });
    this.binaryInfo.catch(() => (this.binaryInfo = undefined));
    return this.binaryInfo;
  }

  async init(options: CallOptions = {}): Promise<InitResult> {
    try {
      return { created: false, repositoryId: await this.repositoryId(options.signal) };
    } catch (err) {
      if (!isMoverError(err, 'RepositoryNotFound')) throw err;
    }
    await this.exec('init', ['init'], options);
    return { created: true, repositoryId: await this.repositoryId(options.signal) };
  }

  async backup(request: BackupRequest): Promise<BackupResult> {
    const source = request.source;
    if (source.kind === 'device') throw blockUnsupported(this.repositoryName(), source.path);
    const cwd = source.kind === 'directory' ? await this.sourceDirectory(source.path) : undefined;
    const parentId = await this.chooseParent(request);
    const args = [
      'backup', '--json', '--host', identityHost(request.identity),
      ...[...identityTags(request.identity), ...(request.tags ?? []).map(checkTag)].flatMap((t) => ['--tag', t]),
      ...(parentId ? ['--parent', parentId] : ['--force']),
      ...(cwd ? (request.excludes ?? []).flatMap((p) => ['--exclude', resticExclude(cwd, p)]) : []),
      ...(source.kind === 'stream' ? ['--stdin', '--stdin-filename', checkFileName(source.fileName)] : ['.']),
    ];
    // A stream cannot be replayed, so lock conflicts are settled before it starts flowing.
    if (source.kind === 'stream') await this.settleLocks(request.signal, false);
    const run = (): Promise<BackupResult> => this.runBackup(request, args, cwd, parentId);
    return source.kind === 'stream' ? run() : this.withLockRetry(run, request.signal);
  }

  async restore(request: RestoreRequest): Promise<RestoreResult> {
    if (request.volumeMode === 'Block') throw blockUnsupported(this.repositoryName(), request.target);
    const id = checkSnapshotId(request.snapshotId);
    const include = request.include === undefined ? undefined : `/${request.include.replace(/^\/+/, '')}`;
    const args = ['restore', id, '--target', request.target, ...(include ? ['--include', include] : [])];
    const started = performance.now();
    const totals = restoreTotals((a) => this.exec('ls', a, { signal: request.signal }), id, include);
    totals.catch(() => undefined);
    const throttle = new ProgressThrottle(request.onProgress, 0);
    void totals.then((t) => throttle.offer(restoreProgress(t, 0)), () => undefined);
    const result = await this.withLockRetry(
      () => this.exec('restore', args, { signal: request.signal, accept: (r) => r.exitCode === 1 && parseRestoreErrors(r.stderr).length > 0 }),
      request.signal,
    ).catch(async (err: unknown) => {
      await totals.catch(() => undefined); // no restic left running behind a rejected call
      throw err;
    });
    const fileErrors = parseRestoreErrors(result.stderr);
    const t = await totals;
    throttle.flush(restoreProgress(t, 1));
    const stats = { filesRestored: t.files, dirsRestored: t.dirs, bytesRestored: t.bytes, durationSeconds: (performance.now() - started) / 1000 };
    return { stats, fileErrors };
  }

  async snapshots(request: SnapshotsRequest = {}): Promise<SnapshotSummary[]> {
    const tags = (request.tags ?? []).map(checkTag);
    const args = [
      'snapshots', '--json', '--no-lock',
      ...(request.identity ? lineageFilter(request.identity) : []),
      ...(tags.length > 0 ? ['--tag', tags.join(',')] : []),
    ];
    const result = await this.exec('snapshots', args, request);
    return parseSnapshotList(result.stdout);
  }

  async forget(request: ForgetRequest): Promise<ForgetResult> {
    const flags = retentionFlags(request.policy);
    const lineages = request.identity ? [request.identity] : await this.lineages(request.signal);
    const decisions: ForgetDecision[] = [];
    for (const identity of lineages) {
      const args = ['forget', '--json', '--group-by', '', ...flags, ...lineageFilter(identity), ...(request.dryRun ? ['--dry-run'] : [])];
      const result = await this.withLockRetry(() => this.exec('forget', args, request), request.signal);
      decisions.push(...parseForget(result.stdout));
    }
    const removed = request.dryRun ? [] : decisions.filter((d) => !d.keep).map((d) => d.snapshot.id);
    return { decisions, removed };
  }

  async removeSnapshots(request: RemoveSnapshotsRequest): Promise<RemoveSnapshotsResult> {
    for (const id of request.snapshotIds) {
      if (!/^[0-9a-f]{8,64}$/.test(id)) throw new MoverError('InvalidArgument', `"${id}" is not a snapshot id`);
    }
    if (request.snapshotIds.length === 0) return { removed: [] };
    await this.withLockRetry(() => this.exec('forget', ['forget', ...request.snapshotIds], request), request.signal);
    return { removed: [...request.snapshotIds] };
  }

  async prune(request: PruneRequest = {}): Promise<PruneResult> {
    const args = ['prune', ...(request.dryRun ? ['--dry-run'] : [])];
    const throttle = new ProgressThrottle(request.onProgress, 0);
    throttle.offer({ op: 'prune', filesDone: 0, bytesDone: 0 });
    const result = await this.withLockRetry(() => this.exec('prune', args, request), request.signal);
    const parsed = parsePrune(`${result.stdout}\n${result.stderr}`);
    throttle.flush({ op: 'prune', filesDone: parsed.packsDeleted, bytesDone: parsed.bytesFreed });
    return { ...parsed, dryRun: request.dryRun ?? false };
  }

  async check(request: CheckRequest = {}): Promise<CheckResult> {
    const args = ['check', ...readDataFlags(request.readData)];
    const throttle = new ProgressThrottle(request.onProgress, 0);
    throttle.offer({ op: 'check', filesDone: 0, bytesDone: 0 });
    const corrupt = (r: RunResult): boolean => r.exitCode === 1 && /repository contains errors/.test(r.stderr);
    const result = await this.withLockRetry(() => this.exec('check', args, { ...request, accept: corrupt }), request.signal);
    throttle.flush({ op: 'check', filesDone: 1, filesTotal: 1, bytesDone: 0 });
    if (result.exitCode === 0) return { ok: true, problems: [] };
    return { ok: false, problems: parseCheckProblems(`${result.stdout}\n${result.stderr}`) };
  }

  async stats(options: CallOptions = {}): Promise<RepositoryStats> {
    const result = await this.exec('stats', ['stats', '--mode', 'raw-data', '--json', '--no-lock'], options);
    const stats = parseStats(result.stdout);
    if (!stats) throw new MoverError('Internal', `restic stats for ${this.repositoryName()} printed no total_size/snapshots_count; is restic older than 0.12?`);
    return stats;
  }

  /** Every lock in the repository with the stale-rule verdict (read-only). */
  async inspectLocks(signal?: AbortSignal): Promise<LockVerdict[]> {
    const list = await this.exec('list locks', ['list', 'locks', '--no-lock'], { signal });
    const verdicts: LockVerdict[] = [];
    for (const id of parseLockIds(list.stdout)) {
      const lock = await this.readLock(id, signal);
      if (lock) verdicts.push(judgeLock(lock, this.staleContext()));
    }
    return verdicts;
  }

  /**
   * Removes locks that are stale by restic's rule (through `restic unlock`, which applies
   * that same rule; never `--remove-all`) and reports the ones left in place.
   */
  async removeStaleLocks(signal?: AbortSignal): Promise<{ removed: LockVerdict[]; kept: LockVerdict[] }> {
    const verdicts = await this.inspectLocks(signal);
    const removed = verdicts.filter((v) => v.stale);
    if (removed.length > 0) await this.exec('unlock', ['unlock'], { signal });
    return { removed, kept: verdicts.filter((v) => !v.stale) };
  }

  private async readLock(id: string, signal?: AbortSignal): Promise<ReturnType<typeof parseLock>> {
    try {
      return parseLock(id, (await this.exec('cat lock', ['cat', 'lock', id, '--no-lock'], { signal })).stdout);
    } catch (err) {
      // the lock was released between listing and reading it
      if (isMoverError(err) && err.code !== 'Canceled') return undefined;
      throw err;
    }
  }

  private staleContext(): Parameters<typeof judgeLock>[1] {
    return { hostname: this.options.hostname ?? osHostname(), nowMs: (this.options.now ?? Date.now)(), pidAlive };
  }

  /**
   * On a lock conflict: remove stale locks and retry, or report who holds the rest. A
   * second round covers a lock that appeared between our look and restic's.
   */
  private async withLockRetry<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let round = 0; ; round++) {
      try {
        return await fn();
      } catch (err) {
        if (!isMoverError(err, 'RepositoryLocked') || round >= 2) throw err;
        await this.settleLocks(signal, true);
      }
    }
  }

  /** Removes stale locks; with `mustFree`, any lock left makes it throw RepositoryLocked naming the holders. */
  private async settleLocks(signal: AbortSignal | undefined, mustFree: boolean): Promise<void> {
    const { kept } = await this.removeStaleLocks(signal);
    const blocking = mustFree ? kept : kept.filter((v) => v.lock.exclusive);
    if (blocking.length === 0) return;
    throw new MoverError(
      'RepositoryLocked',
      `restic repository ${this.repositoryName()} is locked and the lock is not stale, so it was left in place: ${blocking.map(describeLock).join('; ')}. Wait for the holder to finish; if it is provably gone, remove the lock with restic unlock once it is older than 30 minutes`,
    );
  }

  private async lineages(signal?: AbortSignal): Promise<SourceIdentity[]> {
    const byKey = new Map<string, SourceIdentity>();
    for (const s of await this.snapshots({ signal })) byKey.set(lineageKey(s.identity), s.identity);
    return [...byKey.values()];
  }

  private async chooseParent(request: BackupRequest): Promise<string | undefined> {
    if (request.parent === 'none') return undefined;
    if (request.parent !== undefined) return checkSnapshotId(request.parent);
    const latest = async (filter: string[]): Promise<string | undefined> => {
      const result = await this.exec('snapshots', ['snapshots', '--json', '--no-lock', ...filter], request);
      return parseSnapshotList(result.stdout).at(-1)?.id;
    };
    const identity = request.identity;
    const found = await latest(lineageFilter(identity));
    if (found || identity.kind !== 'pod' || !identity.pvcUid) return found;
    return latest(podVolumeFilter(identity));
  }

  private async runBackup(request: BackupRequest, args: string[], cwd: string | undefined, parentId: string | undefined): Promise<BackupResult> {
    const throttle = new ProgressThrottle(request.onProgress, this.options.progressIntervalMs ?? 250);
    const fileErrors: FileError[] = [];
    let summary: Record<string, unknown> | undefined;
    const onLine = (line: string): void => {
      const msg = parseJsonLine(line);
      if (!isRecord(msg)) return;
      const type = stringField(msg, 'message_type');
      if (type === 'status') throttle.offer(backupProgress(msg));
      else if (type === 'summary') summary = msg;
      else if (type === 'error') fileErrors.push(relativeError(backupFileError(msg), cwd));
    };
    const source = request.source;
    await this.exec('backup', args, {
      signal: request.signal, cwd, onStdoutLine: onLine, onStderrLine: onLine, collectStdout: false,
      stdin: source.kind === 'stream' ? source.stream : undefined,
      accept: (r) => r.exitCode === 3 && summary !== undefined,
    });
    if (!summary) throw new MoverError('Internal', `restic backup to ${this.repositoryName()} finished without a summary; no snapshot id to report`);
    const parsed = backupSummary(summary);
    const s = parsed.stats;
    throttle.flush({ op: 'backup', filesDone: s.filesNew + s.filesChanged + s.filesUnmodified, filesTotal: s.filesNew + s.filesChanged + s.filesUnmodified, bytesDone: s.bytesProcessed, bytesTotal: s.bytesProcessed });
    const snapshotId = await this.fullSnapshotId(parsed.shortId, request.signal);
    return { snapshotId, ...(parentId ? { parentId } : {}), stats: s, fileErrors };
  }

  /** restic 0.14 reports short ids; a local repository names its snapshot files by full id, saving a restic run. */
  private async fullSnapshotId(shortId: string, signal?: AbortSignal): Promise<string> {
    if (isLocalPath(this.options.repository)) {
      const names = await readdir(join(this.options.repository, 'snapshots')).catch(() => []);
      const matches = names.filter((n) => n.startsWith(shortId));
      if (matches.length === 1 && matches[0]) return matches[0];
    }
    const result = await this.exec('snapshots', ['snapshots', '--json', '--no-lock', checkSnapshotId(shortId)], { signal });
    return parseSnapshotList(result.stdout)[0]?.id ?? shortId;
  }

  private async repositoryId(signal?: AbortSignal): Promise<string | undefined> {
    const result = await this.exec('cat config', ['cat', 'config', '--no-lock'], { signal });
    const doc = parseJsonDocument(result.stdout);
    return isRecord(doc) ? stringField(doc, 'id') : undefined;
  }

  private async sourceDirectory(path: string): Promise<string> {
    const abs = resolvePath(path);
    const info = await stat(abs).catch((err: NodeJS.ErrnoException) => {
      throw new MoverError(err.code === 'ENOENT' ? 'SourceNotFound' : 'PermissionDenied', `backup source ${abs} cannot be read (${err.code ?? err.message}); check the volume is mounted on this node`);
    });
    if (!info.isDirectory()) throw new MoverError('InvalidArgument', `backup source ${abs} is not a directory; use a stream source for single files`);
    return abs;
  }

  private async exec(command: string, args: readonly string[], options: ExecOptions): Promise<RunResult> {
    const binary = await this.binary(options.signal);
    const result = await runRestic({
      binary: binary.binary, args, env: this.childEnv(), signal: options.signal, cwd: options.cwd, stdin: options.stdin,
      onStdoutLine: options.onStdoutLine, onStderrLine: options.onStderrLine, collectStdout: options.collectStdout,
      killGraceMs: this.options.killGraceMs ?? 5000,
    });
    if (result.canceled) throw canceledError();
    if (result.stdinError !== undefined) throw this.streamError(result.stdinError);
    if (result.spawnError !== undefined) {
      this.binaryInfo = undefined;
      throw new MoverError('BinaryMissing', `restic binary "${binary.binary}" could not be started: ${result.spawnError}`);
    }
    if (result.exitCode === 0 || options.accept?.(result)) return result;
    throw mapResticFailure({ command, repository: this.repositoryName(), exitCode: result.exitCode, stderr: result.stderr, secrets: this.secrets() });
  }

  private streamError(cause: unknown): MoverError {
    if (isMoverError(cause)) return cause;
    const detail = redact(cause instanceof Error ? cause.message : String(cause), this.secrets());
    return new MoverError('Internal', `the backup source stream failed (${detail}); restic was stopped before the end of the stream, so no snapshot was written — retry once the source is healthy`, { cause });
  }

  private childEnv(): Record<string, string> {
    const env: Record<string, string> = { LANG: 'C', RESTIC_PROGRESS_FPS: '4' };
    for (const key of INHERITED_ENV) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    Object.assign(env, this.options.env, { RESTIC_REPOSITORY: this.options.repository });
    if (this.options.password !== undefined) env['RESTIC_PASSWORD'] = this.options.password;
    if (this.options.passwordFile !== undefined) env['RESTIC_PASSWORD_FILE'] = this.options.passwordFile;
    if (this.options.cacheDir !== undefined) env['RESTIC_CACHE_DIR'] = this.options.cacheDir;
    return env;
  }

  private secrets(): string[] {
    const fromEnv = Object.entries(this.options.env ?? {}).filter(([k]) => /SECRET|PASSWORD|TOKEN|KEY/i.test(k)).map(([, v]) => v);
    return [...(this.options.password !== undefined ? [this.options.password] : []), ...fromEnv];
  }

  private repositoryName(): string {
    return describeRepository(this.options.repository);
  }
}

function readDataFlags(readData: CheckRequest['readData']): string[] {
  if (readData === undefined) return [];
  if (readData === 'all') return ['--read-data'];
  const f = readData.fraction;
  if (!(f > 0 && f <= 1)) throw new MoverError('InvalidArgument', `check readData fraction must be in (0, 1], got ${f}`);
  return f === 1 ? ['--read-data'] : [`--read-data-subset=${(f * 100).toFixed(4).replace(/\.?0+$/, '')}%`];
}

function checkSnapshotId(id: string): string {
  if (!/^[0-9a-f]{4,64}$/.test(id)) throw new MoverError('InvalidArgument', `"${id}" is not a restic snapshot id (4 to 64 hex digits)`);
  return id;
}

/** restic backends are `scheme:…`; a plain absolute path (or `local:`-less path) is a directory. */
function isLocalPath(repository: string): boolean {
  return isAbsolute(repository);
}

function checkFileName(name: string): string {
  if (name === '' || name.includes('\0')) throw new MoverError('InvalidArgument', 'a stream backup needs a non-empty fileName');
  return name;
}

function relativeError(error: FileError, cwd: string | undefined): FileError {
  return cwd && error.path.startsWith(cwd) ? { ...error, path: relative(cwd, error.path) || '.' } : error;
}

function restoreProgress(t: RestoreTotals, share: 0 | 1): { op: 'restore'; filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number } {
  return { op: 'restore', filesDone: t.files * share, filesTotal: t.files, bytesDone: t.bytes * share, bytesTotal: t.bytes };
}

/**
 * Ferry's exclude rules in restic's terms, so both movers skip the same paths: restic
 * matches a relative pattern against any trailing part of the path, which is Ferry's
 * reading of a pattern without "/" only; one with "/" is anchored at the volume root.
 */
export function resticExclude(cwd: string, pattern: string): string {
  const p = pattern.trim().replace(/\/+$/, '').replace(/\[!/g, '[^');
  return p.includes('/') ? join(cwd, p.replace(/^\/+/, '')) : p;
}

/**
 * restic could read a device through --stdin, but it would store the holes as data and
 * could restore neither holes nor a size check onto a device: block volumes need Ferry's mover.
 */
function blockUnsupported(repository: string, device: string): MoverError {
  return new MoverError('Unsupported', `block volume ${device}: the restic mover (repository ${repository}) cannot back up or restore block volumes; use a BackupRepository with the ferry mover for them`);
}
