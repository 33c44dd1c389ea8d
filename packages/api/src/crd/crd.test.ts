import { describe, expect, it } from 'vitest';
import { BackupSpecSchema } from './backup.js';
import { ConditionSchema } from './common.js';
import { renderCrd } from './definition.js';
import { CRD_DEFINITIONS } from './definitions.js';
import { BackupLocationSpecSchema } from './location.js';
import { RestoreSpecSchema } from './restore.js';
import { SAMPLES, backupSample, podVolumeBackupSample } from './samples.fixture.js';
import { arr, int32, keyedList, map, obj, oneOf, opt, str, time, toOpenApi, type SchemaNode } from './schema.js';
import { validate } from './validate.js';

function schemaPaths(node: SchemaNode, path: string, out: Set<string>): Set<string> {
  if (path !== '') out.add(path);
  if (node.type === 'object') for (const [name, field] of Object.entries(node.properties)) schemaPaths(field.node, path === '' ? name : `${path}.${name}`, out);
  if (node.type === 'array') schemaPaths(node.items, `${path}[]`, out);
  if (node.type === 'map') schemaPaths(node.values, `${path}{}`, out);
  return out;
}

function valuePaths(node: SchemaNode, value: unknown, path: string, out: Set<string>): void {
  if (path !== '') out.add(path);
  if (node.type === 'object' && value && typeof value === 'object') {
    for (const [name, field] of Object.entries(node.properties)) {
      const item = (value as Record<string, unknown>)[name];
      if (item !== undefined) valuePaths(field.node, item, path === '' ? name : `${path}.${name}`, out);
    }
  }
  if (node.type === 'array' && Array.isArray(value)) for (const item of value) valuePaths(node.items, item, `${path}[]`, out);
  if (node.type === 'map' && value && typeof value === 'object') for (const item of Object.values(value)) valuePaths(node.values, item, `${path}{}`, out);
}

describe('CRD schemas and the TypeScript types agree', () => {
  for (const def of CRD_DEFINITIONS) {
    const samples = SAMPLES[def.kind as keyof typeof SAMPLES];

    it(`${def.kind}: every sample (typed with the inferred types) passes the schema`, () => {
      expect(samples.length).toBeGreaterThan(0);
      for (const sample of samples) {
        expect(sample.kind).toBe(def.kind);
        expect(validate(def.spec, sample.spec, 'spec')).toEqual([]);
        if (sample.status !== undefined) expect(validate(def.status, sample.status, 'status')).toEqual([]);
      }
    });

    it(`${def.kind}: the samples reach every field of the schema`, () => {
      const touched = new Set<string>();
      for (const sample of samples) {
        valuePaths(def.spec.node, sample.spec, 'spec', touched);
        valuePaths(def.status.node, sample.status, 'status', touched);
      }
      const all = new Set([...schemaPaths(def.spec.node, 'spec', new Set()), ...schemaPaths(def.status.node, 'status', new Set())]);
      expect([...all].filter((p) => !touched.has(p))).toEqual([]);
    });
  }

  it('plurals, singulars and short names are unique', () => {
    const names = CRD_DEFINITIONS.flatMap((d) => [d.plural, d.singular, ...d.shortNames]);
    expect(new Set(names).size).toBe(names.length);
    for (const d of CRD_DEFINITIONS) expect(d.singular).toBe(d.kind.toLowerCase());
  });
});

describe('validate', () => {
  const cases: { name: string; schema: Parameters<typeof validate>[0]; value: unknown; problems: { path: string; message: RegExp }[] }[] = [
    { name: 'unknown enum value', schema: BackupSpecSchema, value: { mover: 'kopia' }, problems: [{ path: 'mover', message: /one of native, restic/ }] },
    { name: 'unknown field (a typo the API server would prune)', schema: BackupSpecSchema, value: { purgeOnDelet: true }, problems: [{ path: 'purgeOnDelet', message: /not a known field/ }] },
    { name: 'bad duration', schema: BackupSpecSchema, value: { ttl: '30 days' }, problems: [{ path: 'ttl', message: /must match/ }] },
    { name: 'bad namespace name', schema: BackupSpecSchema, value: { namespaces: ['Shop'] }, problems: [{ path: 'namespaces[0]', message: /must match/ }] },
    { name: 'duplicate set entry', schema: BackupSpecSchema, value: { namespaces: ['a', 'a'] }, problems: [{ path: 'namespaces', message: /duplicate/ }] },
    { name: 'wrong type', schema: BackupSpecSchema, value: { cancel: 'yes' }, problems: [{ path: 'cancel', message: /expected a boolean, got string/ }] },
    { name: 'include * is allowed', schema: BackupSpecSchema, value: { includeVolumes: ['*', 'data'] }, problems: [] },
    { name: 'null is not an object', schema: BackupSpecSchema, value: null, problems: [{ path: '(root)', message: /expected an object, got null/ }] },
    {
      name: 'label selector operator',
      schema: BackupSpecSchema,
      value: { labelSelector: { matchExpressions: [{ key: 'a', operator: 'Has' }] } },
      problems: [{ path: 'labelSelector.matchExpressions[0].operator', message: /one of In, NotIn/ }],
    },
    { name: 'location: neither s3 nor filesystem', schema: BackupLocationSpecSchema, value: {}, problems: [{ path: '(root)', message: /exactly one of s3 \| filesystem.*found 0/ }] },
    {
      name: 'location: both s3 and filesystem',
      schema: BackupLocationSpecSchema,
      value: { s3: { bucket: 'abc' }, filesystem: { path: '/x' } },
      problems: [{ path: '(root)', message: /found 2/ }],
    },
    { name: 'location: relative filesystem path', schema: BackupLocationSpecSchema, value: { filesystem: { path: 'x' } }, problems: [{ path: 'filesystem.path', message: /must match/ }] },
    { name: 'location: missing bucket', schema: BackupLocationSpecSchema, value: { s3: {} }, problems: [{ path: 's3.bucket', message: /required/ }] },
    { name: 'restore: neither backup nor snapshots', schema: RestoreSpecSchema, value: {}, problems: [{ path: '(root)', message: /backupName \| latest \| snapshots/ }] },
    { name: 'restore: a backup and latest', schema: RestoreSpecSchema, value: { backupName: 'b1', latest: {} }, problems: [{ path: '(root)', message: /exactly one of backupName \| latest \| snapshots/ }] },
    { name: 'restore: latest with a negative previous', schema: RestoreSpecSchema, value: { latest: { previous: -1 } }, problems: [{ path: 'latest.previous', message: /0/ }] },
    {
      name: 'restore: short snapshot id',
      schema: RestoreSpecSchema,
      value: { snapshots: [{ snapshotId: 'abc', location: 'rgw', namespace: 'a', volume: 'data' }] },
      problems: [{ path: 'snapshots[0].snapshotId', message: /must match/ }],
    },
    {
      name: 'restore: mapping to an invalid namespace',
      schema: RestoreSpecSchema,
      value: { backupName: 'b', namespaceMapping: { a: 'B_' } },
      problems: [{ path: 'namespaceMapping["a"]', message: /must match/ }],
    },
    {
      name: 'condition: reason not CamelCase, bad time, bad status',
      schema: ConditionSchema,
      value: { type: 'Ready', status: 'Yes', reason: 'not ok', message: '', lastTransitionTime: 'yesterday' },
      problems: [
        { path: 'status', message: /one of True, False, Unknown/ },
        { path: 'reason', message: /must match/ },
        { path: 'lastTransitionTime', message: /RFC 3339/ },
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const problems = validate(c.schema, c.value);
      expect(problems.map((p) => p.path)).toEqual(c.problems.map((p) => p.path));
      c.problems.forEach((p, i) => expect(problems[i]?.message).toMatch(p.message));
    });
  }

  it('checks integer bounds, int32 range, list lengths, map sizes and list-map keys', () => {
    const s = obj('x', {
      n: int32('n', { minimum: 1, maximum: 5 }),
      big: opt(int32('big')),
      list: opt(arr('l', str('s'), { minItems: 1, maxItems: 2 })),
      m: opt(map('m', str('v'), { maxProperties: 1 })),
      conds: opt(keyedList('c', ConditionSchema, ['type'])),
      t: opt(time('t')),
      e: opt(oneOf('e', ['A'])),
    });
    const cond = { type: 'A', status: 'True', reason: 'R', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' };
    const problems = validate(s, { n: 0.5, big: 2 ** 31, list: [], m: { a: 'x', b: 'y' }, conds: [cond, cond], t: '2025-01-01T00:00:00+02:00' }, 'spec');
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'spec.n: expected an integer, got number',
      'spec.big: does not fit in int32: 2147483648',
      'spec.list: must have at least 1 item(s)',
      'spec.m: must have at most 1 entries',
      'spec.conds: duplicate entry ["A"]',
    ]);
    expect(validate(s, { n: 6 })).toEqual([{ path: 'n', message: 'must be <= 5, got 6' }]);
  });

  it('a finished sample with a corrupted nested field is caught at the right path', () => {
    const broken = structuredClone(podVolumeBackupSample) as unknown as { status: { progress: { bytesDone: number } } };
    broken.status.progress.bytesDone = -1;
    expect(validate(CRD_DEFINITIONS[3]!.status, broken.status, 'status')).toEqual([{ path: 'status.progress.bytesDone', message: 'must be >= 0, got -1' }]);
    const spec = { ...backupSample.spec, namespaces: ['ok', 'not ok'] };
    expect(validate(BackupSpecSchema, spec, 'spec').map((p) => p.path)).toEqual(['spec.namespaces[1]']);
  });
});

describe('toOpenApi and renderCrd', () => {
  it('renders required lists, oneOf and list-map markers', () => {
    const s = toOpenApi(BackupLocationSpecSchema.node);
    expect(s.type).toBe('object');
    expect(s.required).toBeUndefined();
    expect(s.oneOf).toEqual([{ required: ['s3'] }, { required: ['filesystem'] }]);
    expect(s.properties?.['s3']?.required).toEqual(['bucket']);
    const status = toOpenApi(CRD_DEFINITIONS[2]!.status.node);
    expect(status.properties?.['conditions']).toMatchObject({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    expect(status.properties?.['conditions']?.items?.required).toEqual(['type', 'status', 'reason', 'message', 'lastTransitionTime']);
  });

  it('gives every CRD the status subresource, the ferry category and an Age column', () => {
    for (const def of CRD_DEFINITIONS) {
      const crd = renderCrd(def) as { spec: { names: { categories: string[] }; versions: { subresources: unknown; additionalPrinterColumns: { name: string }[] }[] } };
      expect(crd.spec.names.categories).toEqual(['ferry']);
      expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
      expect(crd.spec.versions[0]?.additionalPrinterColumns.at(-1)?.name).toBe('Age');
    }
  });
});
