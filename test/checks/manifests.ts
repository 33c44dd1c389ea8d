/**
 * Offline checks of the manifests in deploy/: YAML parsing, a small kustomize renderer
 * (exactly the features Ferry's kustomizations use: resources, components, strategic
 * merge patches, images, configMapGenerator; anything else is refused), schema
 * validation and the project's own rules. Used by manifests.test.ts.
 *
 * Schemas: built-in kinds are checked against @kubernetes/client-node's generated models
 * (each model's attribute type map gives the JSON field names and their types; walking it
 * recursively checks every field and rejects unknown ones). Ferry's kinds are checked
 * against the generated CRDs in deploy/crds, third-party kinds and kustomize files
 * against the OpenAPI subsets vendored in test/checks/schemas (see its README).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEPLOY = join(ROOT, 'deploy');
const SCHEMAS = join(ROOT, 'test', 'checks', 'schemas');

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Manifest {
  /** Repository-relative path of the file the object came from. */
  readonly file: string;
  readonly object: JsonObject;
}

export function rel(path: string): string {
  return relative(ROOT, path);
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every document of a YAML file (empty documents dropped); a syntax error names the file. */
export function parseYamlFile(path: string): Json[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { prettyErrors: true });
  const out: Json[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${rel(path)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Json;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export function describeObject(o: JsonObject): string {
  const m = isObject(o['metadata']) ? o['metadata'] : {};
  return `${String(o['kind'])} ${m['namespace'] ? `${String(m['namespace'])}/` : ''}${String(m['name'])}`;
}

// ------------------------------------------------------------------ kustomize

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export function kustomizationFile(dir: string): string | undefined {
  return KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
}

export interface Rendered {
  readonly objects: Manifest[];
  /** Every file the rendering read (kustomizations included), absolute paths. */
  readonly files: Set<string>;
}

/** Builds a kustomization directory; `extraComponents` are applied as if listed in it. */
export function render(dir: string, options: { extraComponents?: readonly string[] } = {}): Rendered {
  const files = new Set<string>();
  const objects = renderDir(resolve(dir), files, [...(options.extraComponents ?? [])].map((c) => resolve(c)), 'Kustomization');
  return { objects, files };
}

function renderDir(dir: string, files: Set<string>, extraComponents: string[], expectedKind: 'Kustomization' | 'Component'): Manifest[] {
  const file = kustomizationFile(dir);
  if (!file) throw new Error(`${rel(dir)} has no kustomization file`);
  files.add(file);
  const [k] = parseYamlFile(file);
  if (!isObject(k)) throw new Error(`${rel(file)} is not a mapping`);
  const problems = validateKustomization(k);
  if (problems.length > 0) throw new Error(`${rel(file)}:\n  ${problems.join('\n  ')}`);
  if (k['kind'] !== expectedKind) throw new Error(`${rel(file)}: expected kind ${expectedKind}, found ${String(k['kind'])}`);
  const at = (p: string): string => {
    const full = resolve(dir, p);
    if (!existsSync(full)) throw new Error(`${rel(file)} names ${p}, which does not exist`);
    return full;
  };
  let objects: Manifest[] = [];
  for (const r of strings(k['resources'])) {
    const path = at(r);
    if (statSync(path).isDirectory()) objects.push(...renderDir(path, files, [], 'Kustomization'));
    else objects.push(...loadResourceFile(path, files));
  }
  objects.push(...generateConfigMaps(k, at, files));
  for (const c of [...strings(k['components']).map(at), ...extraComponents]) objects = applyComponent(c, objects, files);
  objects = applyPatches(k, objects, at, files);
  objects = applyImages(k, objects);
  assertUnique(objects, file);
  return objects;
}

function applyComponent(dir: string, objects: Manifest[], files: Set<string>): Manifest[] {
  // A component's resources join the parent's; its patches and images apply to all.
  const file = kustomizationFile(dir);
  if (!file) throw new Error(`component ${rel(dir)} has no kustomization file`);
  const added = renderDir(dir, files, [], 'Component');
  const [k] = parseYamlFile(file) as [JsonObject];
  const at = (p: string): string => resolve(dir, p);
  return applyImages(k, applyPatches(k, [...objects, ...added], at, files));
}

function loadResourceFile(path: string, files: Set<string>): Manifest[] {
  files.add(path);
  return parseYamlFile(path).map((object, i) => {
    if (!isObject(object)) throw new Error(`${rel(path)} document ${i + 1} is not a mapping`);
    return { file: rel(path), object };
  });
}

function generateConfigMaps(k: JsonObject, at: (p: string) => string, files: Set<string>): Manifest[] {
  const out: Manifest[] = [];
  for (const g of arrayOf(k['configMapGenerator'])) {
    const options = isObject(g['options']) ? g['options'] : {};
    if (options['disableNameSuffixHash'] !== true) throw new Error(`configMapGenerator ${String(g['name'])}: set options.disableNameSuffixHash (the checker does not model hashed names)`);
    const data: JsonObject = {};
    for (const f of strings(g['files'])) {
      const path = at(f);
      files.add(path);
      data[basename(f)] = readFileSync(path, 'utf8');
    }
    const metadata: JsonObject = { name: g['name'] ?? null };
    if (g['namespace']) metadata['namespace'] = g['namespace'];
    if (isObject(options['labels'])) metadata['labels'] = options['labels'];
    out.push({ file: 'configMapGenerator', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata, data } });
  }
  return out;
}

function applyPatches(k: JsonObject, objects: Manifest[], at: (p: string) => string, files: Set<string>): Manifest[] {
  let out = objects;
  for (const p of arrayOf(k['patches'])) {
    if (p['target'] !== undefined || p['patch'] !== undefined) throw new Error('patches: only `path:` strategic-merge patches are supported by the checker');
    const path = at(String(p['path']));
    files.add(path);
    for (const patch of parseYamlFile(path)) {
      if (!isObject(patch)) throw new Error(`${rel(path)}: a patch must be a mapping`);
      const key = identity(patch);
      const matches = out.filter((m) => identity(m.object) === key);
      if (matches.length !== 1) throw new Error(`${rel(path)}: patch for ${key} matches ${matches.length} objects`);
      out = out.map((m) => (identity(m.object) === key ? { file: m.file, object: mergePatch(m.object, patch) as JsonObject } : m));
    }
  }
  return out;
}

/** Lists merged by `name` in strategic merge patches (the ones Ferry's patches may touch). */
const MERGE_BY_NAME = new Set(['containers', 'initContainers', 'volumes', 'env', 'webhooks']);

export function mergePatch(base: Json, patch: Json, key = ''): Json {
  if (isObject(base) && isObject(patch)) {
    const out: JsonObject = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = k in base ? mergePatch(base[k] ?? null, v, k) : v;
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(patch) && MERGE_BY_NAME.has(key)) {
    const out = [...base];
    for (const item of patch) {
      const i = isObject(item) ? out.findIndex((b) => isObject(b) && b['name'] === item['name']) : -1;
      if (i >= 0) out[i] = mergePatch(out[i] ?? null, item, '');
      else out.push(item);
    }
    return out;
  }
  return patch;
}

function applyImages(k: JsonObject, objects: Manifest[]): Manifest[] {
  const images = arrayOf(k['images']);
  if (images.length === 0) return objects;
  return objects.map((m) => {
    const copy = structuredClone(m.object);
    for (const c of containersOf(copy)) {
      const { name } = splitImage(String(c['image']));
      const rule = images.find((i) => i['name'] === name);
      if (!rule) continue;
      const current = splitImage(String(c['image']));
      c['image'] = `${String(rule['newName'] ?? name)}${rule['digest'] ? `@${String(rule['digest'])}` : `:${String(rule['newTag'] ?? current.tag ?? '')}`}`;
    }
    return { file: m.file, object: copy };
  });
}

export function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const [withoutDigest, digest] = image.split('@') as [string, string | undefined];
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const hasTag = colon > slash;
  return { name: hasTag ? withoutDigest.slice(0, colon) : withoutDigest, ...(hasTag ? { tag: withoutDigest.slice(colon + 1) } : {}), ...(digest ? { digest } : {}) };
}

function identity(o: JsonObject): string {
  const m = isObject(o['metadata']) ? o['metadata'] : {};
  return `${String(o['apiVersion'])}|${String(o['kind'])}|${String(m['namespace'] ?? '')}|${String(m['name'])}`;
}

function assertUnique(objects: Manifest[], file: string): void {
  const seen = new Map<string, string>();
  for (const m of objects) {
    const id = identity(m.object);
    if (seen.has(id)) throw new Error(`${rel(file)}: ${describeObject(m.object)} is defined twice (${seen.get(id)} and ${m.file})`);
    seen.set(id, m.file);
  }
}

function strings(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

function arrayOf(v: Json | undefined): JsonObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

// ------------------------------------------------------------------ pod templates

/** The pod spec of a workload (Deployment, DaemonSet, Job, ...) or a Pod. */
export function podSpecOf(o: JsonObject): JsonObject | undefined {
  const spec = o['spec'];
  if (!isObject(spec)) return undefined;
  if (o['kind'] === 'Pod') return spec;
  const template = spec['template'];
  if (isObject(template) && isObject(template['spec'])) return template['spec'];
  return undefined;
}

export function podLabelsOf(o: JsonObject): JsonObject {
  const spec = o['spec'];
  const template = isObject(spec) ? spec['template'] : undefined;
  const meta = isObject(template) ? template['metadata'] : undefined;
  return isObject(meta) && isObject(meta['labels']) ? meta['labels'] : {};
}

export function containersOf(o: JsonObject): JsonObject[] {
  const spec = podSpecOf(o);
  if (!spec) return [];
  return [...arrayOf(spec['initContainers']), ...arrayOf(spec['containers'])];
}

// ------------------------------------------------------------------ schemas

interface BuiltinKind {
  readonly apiVersion: string;
  readonly model: string;
  readonly namespaced: boolean;
}

/** The built-in kinds Ferry ships, with the client-node model that describes each. */
export const BUILTIN_KINDS: Readonly<Record<string, BuiltinKind>> = {
  Namespace: { apiVersion: 'v1', model: 'V1Namespace', namespaced: false },
  ServiceAccount: { apiVersion: 'v1', model: 'V1ServiceAccount', namespaced: true },
  ConfigMap: { apiVersion: 'v1', model: 'V1ConfigMap', namespaced: true },
  Secret: { apiVersion: 'v1', model: 'V1Secret', namespaced: true },
  Service: { apiVersion: 'v1', model: 'V1Service', namespaced: true },
  Deployment: { apiVersion: 'apps/v1', model: 'V1Deployment', namespaced: true },
  DaemonSet: { apiVersion: 'apps/v1', model: 'V1DaemonSet', namespaced: true },
  Job: { apiVersion: 'batch/v1', model: 'V1Job', namespaced: true },
  ClusterRole: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1ClusterRole', namespaced: false },
  ClusterRoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1ClusterRoleBinding', namespaced: false },
  Role: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1Role', namespaced: true },
  RoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1RoleBinding', namespaced: true },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', model: 'V1NetworkPolicy', namespaced: true },
  PriorityClass: { apiVersion: 'scheduling.k8s.io/v1', model: 'V1PriorityClass', namespaced: false },
  MutatingWebhookConfiguration: { apiVersion: 'admissionregistration.k8s.io/v1', model: 'V1MutatingWebhookConfiguration', namespaced: false },
  CustomResourceDefinition: { apiVersion: 'apiextensions.k8s.io/v1', model: 'V1CustomResourceDefinition', namespaced: false },
};

interface Attribute {
  readonly name: string;
  readonly baseName: string;
  readonly type: string;
  readonly format: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };

function modelOf(name: string): Model | undefined {
  const m = (k8s as unknown as Record<string, unknown>)[name];
  return typeof m === 'function' && typeof (m as unknown as Partial<Model>).getAttributeTypeMap === 'function' ? (m as unknown as Model) : undefined;
}

/** Checks `value` against a client-node model type (e.g. `V1Deployment`), rejecting unknown fields. */
export function validateModel(value: Json, type: string, format: string, path: string, problems: string[]): void {
  const array = /^Array<(.+)>$/.exec(type);
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return void problems.push(`${path}: expected a list, found ${kindOf(value)}`);
    value.forEach((v, i) => validateModel(v, array[1]!, format, `${path}[${i}]`, problems));
    return;
  }
  if (map) {
    if (!isObject(value)) return void problems.push(`${path}: expected a map, found ${kindOf(value)}`);
    for (const [k, v] of Object.entries(value)) validateModel(v, map[1]!, format, `${path}.${k}`, problems);
    return;
  }
  switch (type) {
    case 'any':
      return;
    case 'string':
    case 'Date':
      if (typeof value !== 'string') problems.push(`${path}: expected a string, found ${kindOf(value)}${typeof value === 'number' || typeof value === 'boolean' ? ' (quote it)' : ''}`);
      return;
    case 'number':
      if (typeof value !== 'number' || (/^int/.test(format) && !Number.isInteger(value))) problems.push(`${path}: expected ${format.startsWith('int') ? 'an integer' : 'a number'}, found ${kindOf(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${path}: expected true or false, found ${kindOf(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) problems.push(`${path}: expected an integer or a string, found ${kindOf(value)}`);
      return;
  }
  const model = modelOf(type);
  if (!model) return void problems.push(`${path}: the checker does not know the type ${type}`);
  if (!isObject(value)) return void problems.push(`${path}: expected an object (${type}), found ${kindOf(value)}`);
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const a = attributes.get(k);
    if (!a) {
      problems.push(`${path}.${k}: unknown field (${type} has ${[...attributes.keys()].join(', ')})`);
      continue;
    }
    if (v === null) continue;
    validateModel(v, a.type, a.format, `${path}.${k}`, problems);
  }
}

function kindOf(v: Json | undefined): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`;
}

/** An OpenAPI v3 schema as CRDs use it (structural subset). */
export interface OpenApiSchema {
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: boolean | OpenApiSchema;
  items?: OpenApiSchema;
  required?: string[];
  enum?: Json[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  minItems?: number;
  maxLength?: number;
  minLength?: number;
  oneOf?: { required: string[] }[];
  format?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export function validateOpenApi(value: Json, schema: OpenApiSchema, path: string, problems: string[]): void {
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) problems.push(`${path}: expected an integer or a string, found ${kindOf(value)}`);
    return;
  }
  if (schema.type === undefined && schema['x-kubernetes-preserve-unknown-fields']) return;
  switch (schema.type) {
    case 'object': {
      if (!isObject(value)) return void problems.push(`${path}: expected a map, found ${kindOf(value)}`);
      for (const r of schema.required ?? []) if (value[r] === undefined) problems.push(`${path}.${r}: required`);
      for (const [k, v] of Object.entries(value)) {
        const p = schema.properties?.[k];
        if (p) validateOpenApi(v, p, `${path}.${k}`, problems);
        else if (isObject(schema.additionalProperties)) validateOpenApi(v, schema.additionalProperties, `${path}.${k}`, problems);
        else if (schema.additionalProperties !== true && !schema['x-kubernetes-preserve-unknown-fields']) problems.push(`${path}.${k}: unknown field (known: ${Object.keys(schema.properties ?? {}).join(', ') || 'none'})`);
      }
      if (schema.oneOf) {
        const matching = schema.oneOf.filter((b) => b.required.every((r) => value[r] !== undefined));
        if (matching.length !== 1) problems.push(`${path}: exactly one of ${schema.oneOf.map((b) => b.required.join('+')).join(', ')} must be set`);
      }
      return;
    }
    case 'array':
      if (!Array.isArray(value)) return void problems.push(`${path}: expected a list, found ${kindOf(value)}`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) problems.push(`${path}: at most ${schema.maxItems} items`);
      if (schema.minItems !== undefined && value.length < schema.minItems) problems.push(`${path}: at least ${schema.minItems} items`);
      if (schema.items) value.forEach((v, i) => validateOpenApi(v, schema.items!, `${path}[${i}]`, problems));
      return;
    case 'string':
      if (typeof value !== 'string') return void problems.push(`${path}: expected a string, found ${kindOf(value)}`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) problems.push(`${path}: longer than ${schema.maxLength}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) problems.push(`${path}: shorter than ${schema.minLength}`);
      break;
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value))) return void problems.push(`${path}: expected ${schema.type === 'integer' ? 'an integer' : 'a number'}, found ${kindOf(value)}`);
      if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: below ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${path}: above ${schema.maximum}`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${path}: expected true or false, found ${kindOf(value)}`);
      break;
    default:
      problems.push(`${path}: schema without a type`);
      return;
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function validateKustomization(k: JsonObject): string[] {
  const problems: string[] = [];
  const kind = k['kind'] === 'Component' ? 'kustomize.config.k8s.io_v1alpha1_Component' : 'kustomize.config.k8s.io_v1beta1_Kustomization';
  validateOpenApi(k, readJson<OpenApiSchema>(join(SCHEMAS, `${kind}.json`)), 'kustomization', problems);
  return problems;
}

/** Ferry's CRDs by kind, read from deploy/crds. */
export function ferryCrds(): Map<string, JsonObject> {
  const out = new Map<string, JsonObject>();
  for (const name of readdirSync(join(DEPLOY, 'crds')).filter((n) => n.endsWith('.yaml'))) {
    const [crd] = parseYamlFile(join(DEPLOY, 'crds', name)) as [JsonObject];
    const names = (crd['spec'] as JsonObject)['names'] as JsonObject;
    out.set(String(names['kind']), crd);
  }
  return out;
}

/** Schema problems of one object (empty = valid), by the kind's schema source. */
export function validateObject(o: JsonObject, crds: Map<string, JsonObject> = ferryCrds()): string[] {
  const problems: string[] = [];
  const apiVersion = String(o['apiVersion'] ?? '');
  const kind = String(o['kind'] ?? '');
  const where = describeObject(o);
  const builtin = BUILTIN_KINDS[kind];
  if (builtin) {
    if (apiVersion !== builtin.apiVersion) problems.push(`${where}: apiVersion ${apiVersion}, expected ${builtin.apiVersion}`);
    validateModel(o, builtin.model, '', kind, problems);
  } else if (apiVersion.startsWith('ferry.dev/')) {
    const crd = crds.get(kind);
    const version = ((crd?.['spec'] as JsonObject | undefined)?.['versions'] as JsonObject[] | undefined)?.find((v) => `ferry.dev/${String(v['name'])}` === apiVersion && v['served'] === true);
    if (!version) return [`${where}: no served CRD version for ${apiVersion} ${kind}`];
    const schema = (version['schema'] as JsonObject)['openAPIV3Schema'] as unknown as OpenApiSchema;
    const { metadata, ...rest } = o;
    validateOpenApi(rest, { ...schema, properties: Object.fromEntries(Object.entries(schema.properties ?? {}).filter(([k]) => k !== 'metadata')), required: (schema.required ?? []).filter((r) => r !== 'metadata') }, kind, problems);
    validateModel(metadata ?? null, 'V1ObjectMeta', '', `${kind}.metadata`, problems);
  } else {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const file = join(SCHEMAS, `${group}_${version}_${kind}.json`);
    if (!existsSync(file)) return [`${where}: no schema for ${apiVersion} ${kind} (vendor one in test/checks/schemas)`];
    validateOpenApi(o, readJson<OpenApiSchema>(file), kind, problems);
    if (isObject(o['metadata'])) validateModel(o['metadata'], 'V1ObjectMeta', '', `${kind}.metadata`, problems);
  }
  const meta = isObject(o['metadata']) ? o['metadata'] : {};
  if (typeof meta['name'] !== 'string' || meta['name'] === '') problems.push(`${where}: metadata.name is required`);
  return problems.map((p) => (p.startsWith(where) ? p : `${where}: ${p}`));
}

// ------------------------------------------------------------------ rules

/** Images must carry a tag (not latest) or a digest. */
export function imageProblems(objects: readonly Manifest[]): string[] {
  const out: string[] = [];
  for (const m of objects) {
    for (const c of containersOf(m.object)) {
      const image = String(c['image'] ?? '');
      const { tag, digest } = splitImage(image);
      if (!digest && (!tag || tag === 'latest')) out.push(`${describeObject(m.object)} container ${String(c['name'])}: image ${image || '(none)'} is not pinned to a tag or digest`);
    }
  }
  return out;
}

/** Every container has requests (cpu, memory), a memory limit and a locked-down securityContext. */
export function containerProblems(objects: readonly Manifest[]): string[] {
  const out: string[] = [];
  for (const m of objects) {
    for (const c of containersOf(m.object)) {
      const where = `${describeObject(m.object)} container ${String(c['name'])}`;
      const resources = isObject(c['resources']) ? c['resources'] : {};
      const requests = isObject(resources['requests']) ? resources['requests'] : {};
      const limits = isObject(resources['limits']) ? resources['limits'] : {};
      if (requests['cpu'] === undefined || requests['memory'] === undefined) out.push(`${where}: resources.requests needs cpu and memory`);
      if (limits['memory'] === undefined) out.push(`${where}: resources.limits needs memory`);
      const sc = c['securityContext'];
      if (!isObject(sc)) {
        out.push(`${where}: no securityContext`);
        continue;
      }
      if (sc['allowPrivilegeEscalation'] !== false) out.push(`${where}: securityContext.allowPrivilegeEscalation must be false`);
      if (sc['readOnlyRootFilesystem'] !== true) out.push(`${where}: securityContext.readOnlyRootFilesystem must be true`);
      if (sc['privileged'] === true) out.push(`${where}: must not be privileged`);
      const caps = isObject(sc['capabilities']) ? sc['capabilities'] : {};
      if (!strings(caps['drop']).includes('ALL')) out.push(`${where}: securityContext.capabilities.drop must include ALL`);
    }
  }
  return out;
}

const DANGEROUS_VERBS = new Set(['*', 'escalate', 'bind', 'impersonate']);

/** No wildcards or privilege-granting verbs; Secrets only through namespaced Roles. */
export function rbacProblems(objects: readonly Manifest[]): string[] {
  const out: string[] = [];
  for (const m of objects) {
    const kind = m.object['kind'];
    if (kind !== 'ClusterRole' && kind !== 'Role') continue;
    for (const [i, rule] of arrayOf(m.object['rules']).entries()) {
      const where = `${describeObject(m.object)} rule ${i + 1}`;
      for (const field of ['verbs', 'resources', 'apiGroups', 'resourceNames', 'nonResourceURLs']) {
        if (strings(rule[field]).some((v) => v === '*' || v.includes('*'))) out.push(`${where}: ${field} contains a wildcard`);
      }
      for (const v of strings(rule['verbs'])) if (DANGEROUS_VERBS.has(v)) out.push(`${where}: verb ${v} is not allowed`);
      if (kind === 'ClusterRole' && strings(rule['resources']).includes('secrets')) out.push(`${where}: Secrets must be granted by a Role in ferry-system, not cluster-wide`);
    }
  }
  return out;
}

/** Namespaced objects must say their namespace (no reliance on kubectl's context). */
export function namespaceProblems(objects: readonly Manifest[], crds: Map<string, JsonObject>, namespace: string): string[] {
  const out: string[] = [];
  for (const m of objects) {
    const kind = String(m.object['kind']);
    const crd = crds.get(kind);
    const namespaced = BUILTIN_KINDS[kind]?.namespaced ?? (crd ? (crd['spec'] as JsonObject)['scope'] === 'Namespaced' : true);
    const ns = (m.object['metadata'] as JsonObject)['namespace'];
    if (namespaced && ns !== namespace) out.push(`${describeObject(m.object)} (${m.file}): namespace must be ${namespace}`);
    if (!namespaced && ns !== undefined) out.push(`${describeObject(m.object)} (${m.file}): cluster-scoped, must not set a namespace`);
  }
  return out;
}

/** Every YAML file under deploy/ that no kustomization reaches (examples excepted). */
export function unreferencedFiles(reached: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (path !== join(DEPLOY, 'examples')) walk(path);
      } else if (/\.(ya?ml|json)$/.test(name) && !reached.has(path)) out.push(rel(path));
    }
  };
  walk(DEPLOY);
  return out;
}

export function find(objects: readonly Manifest[], kind: string, name: string): JsonObject | undefined {
  return objects.find((m) => m.object['kind'] === kind && (m.object['metadata'] as JsonObject)['name'] === name)?.object;
}

/** host:port → port. */
export function portOf(address: string): number {
  const m = /:(\d+)$/.exec(address);
  return m ? Number(m[1]) : NaN;
}
