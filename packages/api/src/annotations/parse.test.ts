import { describe, expect, it } from 'vitest';
import { ANNOTATIONS } from './keys.js';
import { formatAnnotationProblem, parseCommand, snapshotModeOf, parsePodAnnotations, parsePvcAnnotations, type AnnotationProblem, type PodBackupAnnotations } from './parse.js';

const A = ANNOTATIONS;
const NONE: PodBackupAnnotations = { backupVolumes: [], excludedVolumes: [], excludePaths: [] };

interface Case {
  name: string;
  annotations: Record<string, string> | undefined;
  containers?: string[];
  /** Fields expected in the result (compared with toMatchObject, absent fields checked separately). */
  want?: Partial<PodBackupAnnotations>;
  /** Fields that must be absent. */
  absent?: (keyof PodBackupAnnotations)[];
  /** [key, value, expected-pattern] per problem, in order. */
  problems?: [string, string, RegExp][];
}

const cases: Case[] = [
  // volume lists
  { name: 'no annotations at all', annotations: undefined, want: NONE, absent: ['backupCommand', 'preHook', 'postHook'] },
  { name: 'unrelated annotations are ignored', annotations: { 'kubectl.kubernetes.io/restartedAt': 'x', 'backup.velero.io/backup-volumes': 'data' }, want: NONE },
  { name: 'one volume', annotations: { [A.backupVolumes]: 'data' }, want: { backupVolumes: ['data'] } },
  { name: 'several volumes with spaces', annotations: { [A.backupVolumes]: ' data , logs,cache ' }, want: { backupVolumes: ['data', 'logs', 'cache'] } },
  { name: 'trailing and doubled commas are tolerated', annotations: { [A.backupVolumes]: 'data,,logs,' }, want: { backupVolumes: ['data', 'logs'] } },
  { name: 'empty list', annotations: { [A.backupVolumes]: '' }, want: NONE, problems: [[A.backupVolumes, '', /comma-separated volume names/]] },
  { name: 'whitespace-only list', annotations: { [A.backupVolumes]: '  ,  ' }, want: NONE, problems: [[A.backupVolumes, '  ,  ', /DNS-1123/]] },
  {
    name: 'invalid names are reported and dropped, valid ones kept',
    annotations: { [A.backupVolumes]: 'data,Logs,my_vol,-x,ok-1' },
    want: { backupVolumes: ['data', 'ok-1'] },
    problems: [
      [A.backupVolumes, 'Logs', /DNS-1123/],
      [A.backupVolumes, 'my_vol', /DNS-1123/],
      [A.backupVolumes, '-x', /DNS-1123/],
    ],
  },
  { name: 'a name longer than 63 characters', annotations: { [A.backupVolumes]: 'a'.repeat(70) }, want: NONE, problems: [[A.backupVolumes, `${'a'.repeat(63)}…`, /at most 63/]] },
  { name: 'duplicates are reported once each and kept once', annotations: { [A.backupVolumes]: 'data,data,logs' }, want: { backupVolumes: ['data', 'logs'] }, problems: [[A.backupVolumes, 'data', /listed once/]] },
  { name: 'excludes', annotations: { [A.backupVolumesExcludes]: 'cache,tmp' }, want: { backupVolumes: [], excludedVolumes: ['cache', 'tmp'] } },
  {
    name: 'a volume both included and excluded: reported, exclusion wins',
    annotations: { [A.backupVolumes]: 'data,cache', [A.backupVolumesExcludes]: 'cache' },
    want: { backupVolumes: ['data'], excludedVolumes: ['cache'] },
    problems: [[A.backupVolumes, 'cache', /not also listed in backup\.ferry\.dev\/backup-volumes-excludes/]],
  },
  // path excludes
  { name: 'exclude paths, trimmed', annotations: { [A.excludePaths]: ' cache , /tmp/**,*.log' }, want: { excludePaths: ['cache', '/tmp/**', '*.log'] } },
  {
    name: 'bad exclude paths are reported and dropped alone',
    annotations: { [A.excludePaths]: 'cache,../etc,a/../b,cache,/' },
    want: { excludePaths: ['cache'] },
    problems: [
      [A.excludePaths, '../etc', /inside the volume \(no "\.\." segments\)/],
      [A.excludePaths, 'a/../b', /no "\.\." segments/],
      [A.excludePaths, 'cache', /listed once/],
      [A.excludePaths, '/', /non-empty path glob/],
    ],
  },
  { name: 'an empty exclude-paths list', annotations: { [A.excludePaths]: ' , ' }, want: { excludePaths: [] }, problems: [[A.excludePaths, ' , ', /comma-separated path globs/]] },
  { name: 'an over-long exclude path', annotations: { [A.excludePaths]: 'x'.repeat(300) }, want: { excludePaths: [] }, problems: [[A.excludePaths, `${'x'.repeat(63)}…`, /at most 256 characters/]] },
  // unknown and misplaced keys
  {
    name: 'a misspelt Ferry key is reported with a suggestion',
    annotations: { 'backup.ferry.dev/backup-volume': 'data' },
    want: NONE,
    problems: [['backup.ferry.dev/backup-volume', 'data', /did you mean backup\.ferry\.dev\/backup-volumes\?/]],
  },
  { name: 'an unknown hook key', annotations: { 'pre.hook.backup.ferry.dev/cmd': 'x' }, problems: [['pre.hook.backup.ferry.dev/cmd', 'x', /known Ferry annotation/]] },
  { name: 'the PVC exclude annotation put on a pod', annotations: { [A.pvcExclude]: 'true' }, want: NONE, problems: [[A.pvcExclude, 'true', /PersistentVolumeClaim/]] },
  // backup command
  {
    name: 'backup command as a JSON array',
    annotations: { [A.backupCommand]: '["/bin/sh","-c","pg_dump -U app app"]', [A.backupCommandContainer]: 'db', [A.fileExtension]: 'sql' },
    containers: ['db', 'sidecar'],
    want: { backupCommand: { command: { argv: ['/bin/sh', '-c', 'pg_dump -U app app'], form: 'json' }, container: 'db', fileExtension: 'sql' } },
  },
  {
    name: 'backup command as a plain string runs with /bin/sh -c',
    annotations: { [A.backupCommand]: '  mysqldump --all-databases | gzip  ' },
    want: { backupCommand: { command: { argv: ['/bin/sh', '-c', 'mysqldump --all-databases | gzip'], form: 'shell' } } },
  },
  { name: 'a leading dot in the file extension is dropped', annotations: { [A.backupCommand]: 'x', [A.fileExtension]: '.tar.gz' }, want: { backupCommand: { command: { argv: ['/bin/sh', '-c', 'x'], form: 'shell' }, fileExtension: 'tar.gz' } } },
  {
    name: 'bad file extensions',
    annotations: { [A.backupCommand]: 'x', [A.fileExtension]: '../etc' },
    want: { backupCommand: { command: { argv: ['/bin/sh', '-c', 'x'], form: 'shell' } } },
    problems: [[A.fileExtension, '../etc', /file extension/]],
  },
  { name: 'bad JSON command', annotations: { [A.backupCommand]: '["pg_dump", ' }, absent: ['backupCommand'], problems: [[A.backupCommand, '["pg_dump", ', /JSON array of strings/]] },
  { name: 'JSON command that is not all strings', annotations: { [A.backupCommand]: '["sleep", 5]' }, absent: ['backupCommand'], problems: [[A.backupCommand, '["sleep", 5]', /JSON array/]] },
  { name: 'empty JSON command', annotations: { [A.backupCommand]: '[]' }, absent: ['backupCommand'], problems: [[A.backupCommand, '[]', /JSON array/]] },
  { name: 'JSON command with an empty program', annotations: { [A.backupCommand]: '["", "x"]' }, absent: ['backupCommand'], problems: [[A.backupCommand, '["", "x"]', /JSON array/]] },
  { name: 'empty command', annotations: { [A.backupCommand]: '   ' }, absent: ['backupCommand'], problems: [[A.backupCommand, '   ', /plain command string/]] },
  {
    name: 'a long bad value is truncated in the problem',
    annotations: { [A.backupCommand]: `[${'"x",'.repeat(40)}` },
    absent: ['backupCommand'],
    problems: [[A.backupCommand, `[${'"x",'.repeat(40)}`.slice(0, 63) + '…', /JSON/]],
  },
  {
    name: 'container and extension without a backup command',
    annotations: { [A.backupCommandContainer]: 'db', [A.fileExtension]: 'sql' },
    absent: ['backupCommand'],
    problems: [
      [A.backupCommandContainer, 'db', /nothing without backup\.ferry\.dev\/backup-command/],
      [A.fileExtension, 'sql', /nothing without/],
    ],
  },
  {
    name: 'a container the pod does not have',
    annotations: { [A.backupCommand]: 'x', [A.backupCommandContainer]: 'postgres' },
    containers: ['db'],
    want: { backupCommand: { command: { argv: ['/bin/sh', '-c', 'x'], form: 'shell' } } },
    problems: [[A.backupCommandContainer, 'postgres', /this pod has db/]],
  },
  { name: 'an invalid container name', annotations: { [A.backupCommand]: 'x', [A.backupCommandContainer]: 'DB!' }, problems: [[A.backupCommandContainer, 'DB!', /container/]] },
  // hooks
  {
    name: 'pre hook with defaults (30s, Fail, first container)',
    annotations: { [A.preHookCommand]: '["/sbin/fsfreeze","--freeze","/data"]' },
    want: { preHook: { command: { argv: ['/sbin/fsfreeze', '--freeze', '/data'], form: 'json' }, timeoutMilliseconds: 30_000, onError: 'Fail' } },
    absent: ['postHook'],
  },
  {
    name: 'pre and post hooks with every option',
    annotations: {
      [A.preHookCommand]: 'psql -c "CHECKPOINT"',
      [A.preHookContainer]: 'db',
      [A.preHookTimeout]: '1h30m',
      [A.preHookOnError]: 'Continue',
      [A.postHookCommand]: '["/bin/true"]',
      [A.postHookContainer]: 'db',
      [A.postHookTimeout]: '45s',
      [A.postHookOnError]: 'Fail',
    },
    containers: ['db'],
    want: {
      preHook: { command: { argv: ['/bin/sh', '-c', 'psql -c "CHECKPOINT"'], form: 'shell' }, container: 'db', timeoutMilliseconds: 5_400_000, onError: 'Continue' },
      postHook: { command: { argv: ['/bin/true'], form: 'json' }, container: 'db', timeoutMilliseconds: 45_000, onError: 'Fail' },
    },
  },
  {
    name: 'on-error is read case-insensitively',
    annotations: { [A.postHookCommand]: 'x', [A.postHookOnError]: ' continue ' },
    want: { postHook: { command: { argv: ['/bin/sh', '-c', 'x'], form: 'shell' }, timeoutMilliseconds: 30_000, onError: 'Continue' } },
  },
  {
    name: 'unknown on-error: reported, and Fail is used',
    annotations: { [A.preHookCommand]: 'x', [A.preHookOnError]: 'Ignore' },
    want: { preHook: { command: { argv: ['/bin/sh', '-c', 'x'], form: 'shell' }, timeoutMilliseconds: 30_000, onError: 'Fail' } },
    problems: [[A.preHookOnError, 'Ignore', /Continue or Fail/]],
  },
  {
    name: 'bad durations: reported, and the default is used',
    annotations: { [A.preHookCommand]: 'x', [A.preHookTimeout]: '30', [A.postHookCommand]: 'y', [A.postHookTimeout]: '2 minutes' },
    want: {
      preHook: { command: { argv: ['/bin/sh', '-c', 'x'], form: 'shell' }, timeoutMilliseconds: 30_000, onError: 'Fail' },
      postHook: { command: { argv: ['/bin/sh', '-c', 'y'], form: 'shell' }, timeoutMilliseconds: 30_000, onError: 'Fail' },
    },
    problems: [
      [A.preHookTimeout, '30', /duration such as 30s/],
      [A.postHookTimeout, '2 minutes', /duration/],
    ],
  },
  { name: 'a zero timeout', annotations: { [A.preHookCommand]: 'x', [A.preHookTimeout]: '0s' }, problems: [[A.preHookTimeout, '0s', /positive/]] },
  { name: 'a negative timeout', annotations: { [A.preHookCommand]: 'x', [A.preHookTimeout]: '-5s' }, problems: [[A.preHookTimeout, '-5s', /duration/]] },
  {
    name: 'hook options without the hook command',
    annotations: { [A.postHookContainer]: 'db', [A.postHookTimeout]: '10s', [A.postHookOnError]: 'Continue' },
    absent: ['postHook'],
    problems: [
      [A.postHookContainer, 'db', /nothing without post\.hook\.backup\.ferry\.dev\/command/],
      [A.postHookTimeout, '10s', /nothing without/],
      [A.postHookOnError, 'Continue', /nothing without/],
    ],
  },
  {
    name: 'a malformed hook command drops the hook but still checks its options',
    annotations: { [A.preHookCommand]: '[1]', [A.preHookTimeout]: 'soon' },
    absent: ['preHook'],
    problems: [
      [A.preHookCommand, '[1]', /JSON array/],
      [A.preHookTimeout, 'soon', /duration/],
    ],
  },  // snapshot mode
  { name: 'a bare snapshot mode applies to every claim', annotations: { [A.snapshotMode]: 'always' }, want: { snapshotMode: { all: 'Always', volumes: {} } } },
  { name: 'per-volume snapshot modes beside a bare one', annotations: { [A.snapshotMode]: 'Auto, data=Always ,logs=Never' }, want: { snapshotMode: { all: 'Auto', volumes: { data: 'Always', logs: 'Never' } } } },
  {
    name: 'bad snapshot mode items are dropped alone',
    annotations: { [A.snapshotMode]: 'Sometimes,data=Always,Bad_Vol=Auto,data=Never,Auto,Never' },
    want: { snapshotMode: { all: 'Auto', volumes: { data: 'Always' } } },
    problems: [
      [A.snapshotMode, 'Sometimes', /Auto, Always or Never/],
      [A.snapshotMode, 'Bad_Vol=Auto', /Auto, Always or Never/],
      [A.snapshotMode, 'data=Never', /one mode/],
      [A.snapshotMode, 'Never', /one bare mode/],
    ],
  },
  { name: 'an empty snapshot mode is a problem and no mode', annotations: { [A.snapshotMode]: ' ' }, absent: ['snapshotMode'], problems: [[A.snapshotMode, ' ', /Auto, Always or Never/]] },
  // restore hooks
  {
    name: 'restore hook with defaults (30s, Fail, wait 5m, first container)',
    annotations: { [A.restoreHookCommand]: 'pg_restore -d app /restore/db.dump' },
    want: { restoreHook: { command: { argv: ['/bin/sh', '-c', 'pg_restore -d app /restore/db.dump'], form: 'shell' }, timeoutMilliseconds: 30_000, onError: 'Fail', waitTimeoutMilliseconds: 300_000 } },
    absent: ['preHook', 'postHook'],
  },
  {
    name: 'restore hook with every option',
    annotations: { [A.restoreHookCommand]: '["/bin/true"]', [A.restoreHookContainer]: 'db', [A.restoreHookTimeout]: '10m', [A.restoreHookOnError]: 'continue', [A.restoreHookWaitTimeout]: '90s' },
    containers: ['db'],
    want: { restoreHook: { command: { argv: ['/bin/true'], form: 'json' }, container: 'db', timeoutMilliseconds: 600_000, onError: 'Continue', waitTimeoutMilliseconds: 90_000 } },
  },
  {
    name: 'restore hook: bad values are reported and the safe reading used',
    annotations: { [A.restoreHookCommand]: 'x', [A.restoreHookContainer]: 'web', [A.restoreHookOnError]: 'Skip', [A.restoreHookWaitTimeout]: 'forever' },
    containers: ['db'],
    want: { restoreHook: { command: { argv: ['/bin/sh', '-c', 'x'], form: 'shell' }, timeoutMilliseconds: 30_000, onError: 'Fail', waitTimeoutMilliseconds: 300_000 } },
    problems: [
      [A.restoreHookContainer, 'web', /this pod has db/],
      [A.restoreHookOnError, 'Skip', /Continue or Fail/],
      [A.restoreHookWaitTimeout, 'forever', /positive duration/],
    ],
  },
  {
    name: 'a malformed restore hook command drops the hook',
    annotations: { [A.restoreHookCommand]: '["pg_restore",', [A.restoreHookWaitTimeout]: '1m' },
    absent: ['restoreHook'],
    problems: [[A.restoreHookCommand, '["pg_restore",', /JSON array/]],
  },
  {
    name: 'restore hook options without its command, and a typo in the restore hook domain',
    annotations: { [A.restoreHookWaitTimeout]: '1m', 'post.hook.restore.ferry.dev/comand': 'x', 'pre.hook.restore.ferry.dev/command': 'y' },
    absent: ['restoreHook'],
    problems: [
      ['post.hook.restore.ferry.dev/comand', 'x', /did you mean post\.hook\.restore\.ferry\.dev\/command\?/],
      ['pre.hook.restore.ferry.dev/command', 'y', /known Ferry annotation/],
      [A.restoreHookWaitTimeout, '1m', /nothing without post\.hook\.restore\.ferry\.dev\/command/],
    ],
  },
];

describe('snapshotModeOf', () => {
  it('takes the volume item, then the bare mode, then the Backup, then Never', () => {
    const a = { all: 'Auto' as const, volumes: { data: 'Always' as const } };
    expect(snapshotModeOf(a, 'data', 'Never')).toBe('Always');
    expect(snapshotModeOf(a, 'logs', 'Never')).toBe('Auto');
    expect(snapshotModeOf({ volumes: {} }, 'logs', 'Always')).toBe('Always');
    expect(snapshotModeOf(undefined, 'logs', undefined)).toBe('Never');
  });
});

describe('parsePodAnnotations', () => {
  for (const c of cases) {
    it(c.name, () => {
      const result = parsePodAnnotations({ annotations: c.annotations, ...(c.containers ? { containers: c.containers } : {}) });
      if (c.want) expect(result.annotations).toMatchObject(c.want);
      for (const field of c.absent ?? []) expect(result.annotations[field]).toBeUndefined();
      const want = c.problems ?? [];
      expect(result.problems.map((p: AnnotationProblem) => [p.key, p.value])).toEqual(want.map(([key, value]) => [key, value]));
      want.forEach(([, , expected], i) => expect(result.problems[i]?.expected).toMatch(expected));
    });
  }

  it('never throws, whatever the input', () => {
    const values = ['', ' ', '[', ']', '["a"', 'null', '{}', '[null]', '\u0000', 'ü', '1h'.repeat(1000), '",,,'];
    for (const key of Object.values(A)) {
      for (const value of values) expect(() => parsePodAnnotations({ annotations: { [key]: value }, containers: [] })).not.toThrow();
    }
  });

  it('every problem value is at most 64 characters', () => {
    const long = 'x'.repeat(10_000);
    const result = parsePodAnnotations({ annotations: Object.fromEntries(Object.values(A).map((k) => [k, `[${long}`])) });
    expect(result.problems.length).toBeGreaterThan(5);
    for (const p of result.problems) expect(p.value.length).toBeLessThanOrEqual(64);
  });
});

describe('parseCommand', () => {
  it('keeps a JSON array as argv and wraps a string in /bin/sh -c', () => {
    expect(parseCommand('["tar","-c","."]')).toEqual({ ok: true, command: { argv: ['tar', '-c', '.'], form: 'json' } });
    expect(parseCommand('echo "a b" > /dev/null')).toEqual({ ok: true, command: { argv: ['/bin/sh', '-c', 'echo "a b" > /dev/null'], form: 'shell' } });
    expect(parseCommand('[')).toEqual({ ok: false });
  });
});

describe('parsePvcAnnotations', () => {
  it.each([
    [undefined, false, []],
    [{}, false, []],
    [{ [A.pvcExclude]: 'true' }, true, []],
    [{ [A.pvcExclude]: 'True' }, true, []],
    [{ [A.pvcExclude]: ' false ' }, false, []],
    [{ [A.pvcExclude]: 'yes' }, true, [[A.pvcExclude, 'yes']]],
    [{ [A.pvcExclude]: '' }, true, [[A.pvcExclude, '']]],
    [{ 'backup.ferry.dev/excluded': 'true' }, false, [['backup.ferry.dev/excluded', 'true']]],
    [{ [A.backupVolumes]: 'data' }, false, []],
  ] as const)('%j -> exclude %s', (annotations, exclude, problems) => {
    const result = parsePvcAnnotations(annotations);
    expect(result.exclude).toBe(exclude);
    expect(result.problems.map((p) => [p.key, p.value])).toEqual(problems);
  });

  it('says what is expected', () => {
    expect(parsePvcAnnotations({ [A.pvcExclude]: 'on' }).problems[0]?.expected).toBe('"true" or "false"');
  });
});

describe('formatAnnotationProblem', () => {
  it('gives one line with key, quoted value and expectation', () => {
    const [problem] = parsePodAnnotations({ annotations: { [A.preHookCommand]: 'x', [A.preHookTimeout]: '30' } }).problems;
    expect(problem && formatAnnotationProblem(problem)).toBe(
      'pre.hook.backup.ferry.dev/timeout="30": expected a positive duration such as 30s, 5m, 1h30m or 250ms (units ns, us, ms, s, m, h)',
    );
  });
});
