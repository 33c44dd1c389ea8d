/**
 * The one parser of Ferry's annotations. It never throws and never drops a value without
 * saying so: whatever does not parse becomes an `AnnotationProblem` (key, the value
 * truncated, what is expected), which the coordinator turns into a Warning Event and an
 * `AnnotationsValid=False` condition. The valid parts are still returned and used.
 */
import { DNS1123_LABEL_PATTERN, SNAPSHOT_MODES, type SnapshotMode } from '../crd/common.js';
import { DURATION_EXPECTED, parseDuration } from './duration.js';
import { EXCLUDE_PATH_EXPECTED, EXCLUDE_PATH_LIMITS, excludePathProblem } from './exclude-paths.js';
import { ANNOTATIONS, FERRY_ANNOTATION_DOMAINS, HOOK_DEFAULTS, POD_ANNOTATION_KEYS, PVC_ANNOTATION_KEYS, SHELL, type AnnotationKey } from './keys.js';

export interface AnnotationProblem {
  /** The annotation key as found on the object. */
  readonly key: string;
  /** The offending value (or list item), truncated to 64 characters. */
  readonly value: string;
  /** What a valid value looks like. */
  readonly expected: string;
}

/** A command as given: `json` = a JSON array run as is; `shell` = a plain string run with /bin/sh -c. */
export interface AnnotationCommand {
  readonly argv: readonly string[];
  readonly form: 'json' | 'shell';
}

export type HookOnError = 'Continue' | 'Fail';
export const HOOK_ON_ERROR_VALUES: readonly HookOnError[] = ['Continue', 'Fail'];

export interface HookAnnotation {
  readonly command: AnnotationCommand;
  /** Absent: the pod's first container. */
  readonly container?: string;
  readonly timeoutMilliseconds: number;
  readonly onError: HookOnError;
}

/** A post-restore hook: a hook that first waits (up to `waitTimeoutMilliseconds`) for its container to run. */
export interface RestoreHookAnnotation extends HookAnnotation {
  readonly waitTimeoutMilliseconds: number;
}

export interface BackupCommandAnnotation {
  readonly command: AnnotationCommand;
  /** Absent: the pod's first container. */
  readonly container?: string;
  /** Without the dot; absent: the file is named `<pod>-<container>` with no extension. */
  readonly fileExtension?: string;
}

/** Everything Ferry's pod annotations say, after validation. */
export interface PodBackupAnnotations {
  /** Volume names opted in (valid DNS-1123 labels, de-duplicated, minus excluded ones). */
  readonly backupVolumes: readonly string[];
  readonly excludedVolumes: readonly string[];
  /** Path globs not backed up inside each of the pod's volumes (the valid ones; see exclude-paths.ts). */
  readonly excludePaths: readonly string[];
  readonly backupCommand?: BackupCommandAnnotation;
  readonly preHook?: HookAnnotation;
  readonly postHook?: HookAnnotation;
  /** Run in the pod once a Restore brought its volumes back (`post.hook.restore.ferry.dev/*`). */
  readonly restoreHook?: RestoreHookAnnotation;
  /** backup.ferry.dev/snapshot-mode: a mode for every claim of the pod and/or one per volume. */
  readonly snapshotMode?: SnapshotModeAnnotation;
}

export interface SnapshotModeAnnotation {
  /** The bare mode in the list: every volume not named. */
  readonly all?: SnapshotMode;
  readonly volumes: Readonly<Record<string, SnapshotMode>>;
}

export interface ParsedPodAnnotations {
  readonly annotations: PodBackupAnnotations;
  readonly problems: readonly AnnotationProblem[];
}

export interface ParsePodAnnotationsOptions {
  readonly annotations: Readonly<Record<string, string>> | undefined;
  /** The pod's container names; when given, a named container that does not exist is a problem. */
  readonly containers?: readonly string[];
}

const VALUE_LIMIT = 64;
const DNS_LABEL = new RegExp(DNS1123_LABEL_PATTERN);
const FILE_EXTENSION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

export const EXPECTED = {
  volumeList: 'comma-separated volume names (DNS-1123 labels: lower-case letters, digits and -, at most 63 characters), e.g. "data,logs"',
  command: 'a JSON array of strings (["/bin/sh","-c","pg_dump app"]) or a plain command string run with /bin/sh -c',
  container: 'the name of a container of the pod (a DNS-1123 label)',
  fileExtension: 'a file extension such as sql or tar.gz (letters, digits, ., _ and -, at most 32 characters)',
  onError: 'Continue or Fail',
  duration: `a positive ${DURATION_EXPECTED.replace(/^a /, '')}`,
  pvcExclude: '"true" or "false"',
  snapshotMode: 'Auto, Always or Never, for every claim of the pod, and/or <volume>=<mode> items, comma-separated (e.g. "Auto,data=Always")',
} as const;

/** Truncates a value for a problem report (values can be whole scripts). */
export function truncateValue(value: string): string {
  return value.length <= VALUE_LIMIT ? value : `${value.slice(0, VALUE_LIMIT - 1)}…`;
}

/** One line for an Event or a condition message: `key="value": expected ...`. */
export function formatAnnotationProblem(problem: AnnotationProblem): string {
  return `${problem.key}=${JSON.stringify(problem.value)}: expected ${problem.expected}`;
}

class Problems {
  readonly list: AnnotationProblem[] = [];
  add(key: string, value: string, expected: string): void {
    this.list.push({ key, value: truncateValue(value), expected });
  }
}

/** Parses every Ferry annotation of a pod. */
export function parsePodAnnotations(options: ParsePodAnnotationsOptions): ParsedPodAnnotations {
  const source = options.annotations ?? {};
  const problems = new Problems();
  reportUnknownKeys(source, POD_ANNOTATION_KEYS, problems);
  const misplaced = source[ANNOTATIONS.pvcExclude];
  if (misplaced !== undefined) {
    problems.add(ANNOTATIONS.pvcExclude, misplaced, `nothing on a pod: put it on the PersistentVolumeClaim, or list the volume in ${ANNOTATIONS.backupVolumesExcludes}`);
  }
  const included = parseVolumeList(source, ANNOTATIONS.backupVolumes, problems);
  const excluded = parseVolumeList(source, ANNOTATIONS.backupVolumesExcludes, problems);
  for (const name of included) {
    if (excluded.includes(name)) problems.add(ANNOTATIONS.backupVolumes, name, `a volume not also listed in ${ANNOTATIONS.backupVolumesExcludes} (the exclusion wins)`);
  }
  const excludePaths = parseExcludePaths(source, problems);
  const containers = options.containers;
  const backupCommand = parseBackupCommand(source, problems, containers);
  const preHook = parseHook(source, 'pre', problems, containers);
  const postHook = parseHook(source, 'post', problems, containers);
  const restoreHook = parseRestoreHook(source, problems, containers);
  const snapshotMode = parseSnapshotMode(source, problems);
  const annotations: PodBackupAnnotations = {
    backupVolumes: included.filter((name) => !excluded.includes(name)),
    excludedVolumes: excluded,
    excludePaths,
    ...(backupCommand ? { backupCommand } : {}),
    ...(preHook ? { preHook } : {}),
    ...(postHook ? { postHook } : {}),
    ...(restoreHook ? { restoreHook } : {}),
    ...(snapshotMode ? { snapshotMode } : {}),
  };
  return { annotations, problems: problems.list };
}

export interface ParsedPvcAnnotations {
  /** True when the claim carries `backup.ferry.dev/exclude: "true"`. */
  readonly exclude: boolean;
  readonly problems: readonly AnnotationProblem[];
}

/** Parses the Ferry annotations of a PersistentVolumeClaim. */
export function parsePvcAnnotations(annotations: Readonly<Record<string, string>> | undefined): ParsedPvcAnnotations {
  const source = annotations ?? {};
  const problems = new Problems();
  reportUnknownKeys(source, PVC_ANNOTATION_KEYS, problems);
  const raw = source[ANNOTATIONS.pvcExclude];
  if (raw === undefined) return { exclude: false, problems: problems.list };
  const value = raw.trim().toLowerCase();
  if (value !== 'true' && value !== 'false') {
    problems.add(ANNOTATIONS.pvcExclude, raw, EXPECTED.pvcExclude);
    // An unreadable exclusion is most likely meant as one: keep the claim out rather than copy data its owner wanted left alone.
    return { exclude: true, problems: problems.list };
  }
  return { exclude: value === 'true', problems: problems.list };
}

function reportUnknownKeys(source: Readonly<Record<string, string>>, known: readonly AnnotationKey[], problems: Problems): void {
  const all = Object.values(ANNOTATIONS) as readonly string[];
  for (const key of Object.keys(source)) {
    if (!FERRY_ANNOTATION_DOMAINS.some((domain) => key.startsWith(domain))) continue;
    if ((known as readonly string[]).includes(key) || all.includes(key)) continue;
    problems.add(key, source[key] ?? '', `a known Ferry annotation (${nearest(key, known) ?? known.join(', ')})`);
  }
}

/** The known key closest to a misspelt one, to make the problem message actionable. */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key, candidate);
    if (distance <= 3 && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best ? `did you mean ${best.key}?` : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function parseVolumeList(source: Readonly<Record<string, string>>, key: AnnotationKey, problems: Problems): string[] {
  const raw = source[key];
  if (raw === undefined) return [];
  const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) {
    problems.add(key, raw, EXPECTED.volumeList);
    return [];
  }
  const names: string[] = [];
  for (const item of items) {
    if (!isVolumeName(item)) problems.add(key, item, EXPECTED.volumeList);
    else if (names.includes(item)) problems.add(key, item, 'each volume listed once (duplicate ignored)');
    else names.push(item);
  }
  return names;
}

/** A bad pattern is dropped alone: the others still keep their paths out of the backup. */
function parseExcludePaths(source: Readonly<Record<string, string>>, problems: Problems): string[] {
  const key = ANNOTATIONS.excludePaths;
  const raw = source[key];
  if (raw === undefined) return [];
  const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) problems.add(key, raw, EXCLUDE_PATH_EXPECTED);
  const patterns: string[] = [];
  for (const item of items) {
    const problem = excludePathProblem(item);
    if (problem) problems.add(key, item, `${problem}; ${EXCLUDE_PATH_EXPECTED}`);
    else if (patterns.includes(item)) problems.add(key, item, 'each pattern listed once (duplicate ignored)');
    else if (patterns.length === EXCLUDE_PATH_LIMITS.maxItems) problems.add(key, item, `at most ${EXCLUDE_PATH_LIMITS.maxItems} patterns (the rest ignored)`);
    else patterns.push(item);
  }
  return patterns;
}

/** True for a valid pod volume name (a DNS-1123 label). */
export function isVolumeName(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/** Parses a command annotation value: a JSON array of strings, or a plain string for /bin/sh -c. */
export function parseCommand(raw: string): { ok: true; command: AnnotationCommand } | { ok: false } {
  const text = raw.trim();
  if (text === '') return { ok: false };
  if (!text.startsWith('[')) return { ok: true, command: { argv: [...SHELL, text], form: 'shell' } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a): a is string => typeof a === 'string')) return { ok: false };
  if (parsed[0]?.trim() === '') return { ok: false };
  return { ok: true, command: { argv: parsed, form: 'json' } };
}

function readCommand(source: Readonly<Record<string, string>>, key: AnnotationKey, problems: Problems): AnnotationCommand | undefined {
  const raw = source[key];
  if (raw === undefined) return undefined;
  const result = parseCommand(raw);
  if (!result.ok) problems.add(key, raw, EXPECTED.command);
  return result.ok ? result.command : undefined;
}

function readContainer(source: Readonly<Record<string, string>>, key: AnnotationKey, problems: Problems, containers: readonly string[] | undefined): string | undefined {
  const raw = source[key];
  if (raw === undefined) return undefined;
  const name = raw.trim();
  if (!isVolumeName(name)) {
    problems.add(key, raw, EXPECTED.container);
    return undefined;
  }
  if (containers && !containers.includes(name)) {
    problems.add(key, raw, `${EXPECTED.container}; this pod has ${containers.length === 0 ? 'no containers' : containers.join(', ')}`);
    return undefined;
  }
  return name;
}

/** Reports companion annotations (container, timeout, ...) set without the command they modify. */
function reportOrphans(source: Readonly<Record<string, string>>, keys: readonly AnnotationKey[], commandKey: AnnotationKey, problems: Problems): void {
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined) problems.add(key, value, `nothing without ${commandKey}: add it, or remove this annotation`);
  }
}

function parseBackupCommand(source: Readonly<Record<string, string>>, problems: Problems, containers: readonly string[] | undefined): BackupCommandAnnotation | undefined {
  const companions = [ANNOTATIONS.backupCommandContainer, ANNOTATIONS.fileExtension] as const;
  if (source[ANNOTATIONS.backupCommand] === undefined) {
    reportOrphans(source, companions, ANNOTATIONS.backupCommand, problems);
    return undefined;
  }
  const command = readCommand(source, ANNOTATIONS.backupCommand, problems);
  const container = readContainer(source, ANNOTATIONS.backupCommandContainer, problems, containers);
  const fileExtension = readFileExtension(source, problems);
  if (!command) return undefined;
  return { command, ...(container ? { container } : {}), ...(fileExtension ? { fileExtension } : {}) };
}

function readFileExtension(source: Readonly<Record<string, string>>, problems: Problems): string | undefined {
  const raw = source[ANNOTATIONS.fileExtension];
  if (raw === undefined) return undefined;
  const text = raw.trim();
  const extension = text.startsWith('.') ? text.slice(1) : text;
  if (!FILE_EXTENSION.test(extension) || extension.includes('..')) {
    problems.add(ANNOTATIONS.fileExtension, raw, EXPECTED.fileExtension);
    return undefined;
  }
  return extension;
}

interface HookKeys {
  readonly command: AnnotationKey;
  readonly container: AnnotationKey;
  readonly timeout: AnnotationKey;
  readonly onError: AnnotationKey;
}

const HOOK_KEYS: Readonly<Record<'pre' | 'post' | 'restore', HookKeys>> = {
  pre: { command: ANNOTATIONS.preHookCommand, container: ANNOTATIONS.preHookContainer, timeout: ANNOTATIONS.preHookTimeout, onError: ANNOTATIONS.preHookOnError },
  post: { command: ANNOTATIONS.postHookCommand, container: ANNOTATIONS.postHookContainer, timeout: ANNOTATIONS.postHookTimeout, onError: ANNOTATIONS.postHookOnError },
  restore: { command: ANNOTATIONS.restoreHookCommand, container: ANNOTATIONS.restoreHookContainer, timeout: ANNOTATIONS.restoreHookTimeout, onError: ANNOTATIONS.restoreHookOnError },
};

function parseHook(source: Readonly<Record<string, string>>, which: 'pre' | 'post' | 'restore', problems: Problems, containers: readonly string[] | undefined, extra: readonly AnnotationKey[] = []): HookAnnotation | undefined {
  const keys = HOOK_KEYS[which];
  if (source[keys.command] === undefined) {
    reportOrphans(source, [keys.container, keys.timeout, keys.onError, ...extra], keys.command, problems);
    return undefined;
  }
  const command = readCommand(source, keys.command, problems);
  const container = readContainer(source, keys.container, problems, containers);
  const timeoutMilliseconds = readTimeout(source, keys.timeout, problems);
  const onError = readOnError(source, keys.onError, problems);
  if (!command) return undefined;
  return { command, ...(container ? { container } : {}), timeoutMilliseconds, onError };
}

function parseRestoreHook(source: Readonly<Record<string, string>>, problems: Problems, containers: readonly string[] | undefined): RestoreHookAnnotation | undefined {
  const waitKey = ANNOTATIONS.restoreHookWaitTimeout;
  const hook = parseHook(source, 'restore', problems, containers, [waitKey]);
  if (source[ANNOTATIONS.restoreHookCommand] === undefined) return undefined;
  const waitTimeoutMilliseconds = readTimeout(source, waitKey, problems, HOOK_DEFAULTS.waitTimeoutMilliseconds);
  return hook && { ...hook, waitTimeoutMilliseconds };
}

function readTimeout(source: Readonly<Record<string, string>>, key: AnnotationKey, problems: Problems, fallback: number = HOOK_DEFAULTS.timeoutMilliseconds): number {
  const raw = source[key];
  if (raw === undefined) return fallback;
  const parsed = parseDuration(raw.trim());
  if (!parsed.ok || parsed.milliseconds <= 0) {
    problems.add(key, raw, EXPECTED.duration);
    return fallback;
  }
  return parsed.milliseconds;
}

function readOnError(source: Readonly<Record<string, string>>, key: AnnotationKey, problems: Problems): HookOnError {
  const raw = source[key];
  if (raw === undefined) return HOOK_DEFAULTS.onError;
  const value = HOOK_ON_ERROR_VALUES.find((v) => v.toLowerCase() === raw.trim().toLowerCase());
  if (!value) {
    problems.add(key, raw, EXPECTED.onError);
    // Fail is the safe reading: a hook meant to quiesce a database must not be ignored by a typo.
    return 'Fail';
  }
  return value;
}

function modeOf(text: string): SnapshotMode | undefined {
  return SNAPSHOT_MODES.find((m) => m.toLowerCase() === text.toLowerCase());
}

/** `Always`, `data=Always,logs=Never` or both; a bad item is dropped alone (the Backup's spec.snapshotMode then applies to that volume). */
function parseSnapshotMode(source: Readonly<Record<string, string>>, problems: Problems): SnapshotModeAnnotation | undefined {
  const key = ANNOTATIONS.snapshotMode;
  const raw = source[key];
  if (raw === undefined) return undefined;
  let all: SnapshotMode | undefined;
  const volumes: Record<string, SnapshotMode> = {};
  const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) problems.add(key, raw, EXPECTED.snapshotMode);
  for (const item of items) {
    const [left = '', right] = item.split('=', 2).map((x) => x.trim());
    const mode = modeOf(right ?? left);
    if (!mode || (right !== undefined && !isVolumeName(left))) problems.add(key, item, EXPECTED.snapshotMode);
    else if (right === undefined ? all !== undefined : left in volumes) problems.add(key, item, 'each volume given one mode, and one bare mode at most (the first wins)');
    else if (right === undefined) all = mode;
    else volumes[left] = mode;
  }
  return all === undefined && Object.keys(volumes).length === 0 ? undefined : { ...(all ? { all } : {}), volumes };
}

/** The mode of one volume: the pod annotation's item for it, its bare mode, then the Backup's spec.snapshotMode, then Never. */
export function snapshotModeOf(annotation: SnapshotModeAnnotation | undefined, volume: string, backupMode: SnapshotMode | undefined): SnapshotMode {
  return annotation?.volumes[volume] ?? annotation?.all ?? backupMode ?? 'Never';
}
