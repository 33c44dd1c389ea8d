import type { Schema, SchemaNode } from './schema.js';

/** One reason a value does not fit a schema; `path` is a JSONPath-like field path (`spec.volumes[2]`). */
export interface SchemaProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Checks a plain value against a schema the way the API server's structural validation
 * would, and also reports unknown fields (the API server would silently prune them, which
 * hides typos). Never throws. Used by tests to prove the types and the schema agree, and
 * by the gRPC API to answer INVALID_ARGUMENT naming the field.
 */
export function validate(s: Schema<unknown>, value: unknown, path = ''): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  check(s.node, value, path, problems);
  return problems;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function check(node: SchemaNode, value: unknown, path: string, out: SchemaProblem[]): void {
  const at = path === '' ? '(root)' : path;
  switch (node.type) {
    case 'string':
      if (typeof value !== 'string') return void out.push({ path: at, message: `expected a string, got ${kindOf(value)}` });
      checkString(node, value, at, out);
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return void out.push({ path: at, message: `expected an integer, got ${kindOf(value)}` });
      if (node.minimum !== undefined && value < node.minimum) out.push({ path: at, message: `must be >= ${node.minimum}, got ${value}` });
      if (node.maximum !== undefined && value > node.maximum) out.push({ path: at, message: `must be <= ${node.maximum}, got ${value}` });
      if (node.format === 'int32' && (value > 2 ** 31 - 1 || value < -(2 ** 31))) out.push({ path: at, message: `does not fit in int32: ${value}` });
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push({ path: at, message: `expected a boolean, got ${kindOf(value)}` });
      return;
    case 'array':
      if (!Array.isArray(value)) return void out.push({ path: at, message: `expected an array, got ${kindOf(value)}` });
      if (node.minItems !== undefined && value.length < node.minItems) out.push({ path: at, message: `must have at least ${node.minItems} item(s)` });
      if (node.maxItems !== undefined && value.length > node.maxItems) out.push({ path: at, message: `must have at most ${node.maxItems} items, got ${value.length}` });
      value.forEach((item, i) => check(node.items, item, `${path}[${i}]`, out));
      checkListUniqueness(node, value, at, out);
      return;
    case 'map':
      if (!isPlainObject(value)) return void out.push({ path: at, message: `expected an object, got ${kindOf(value)}` });
      if (node.maxProperties !== undefined && Object.keys(value).length > node.maxProperties) out.push({ path: at, message: `must have at most ${node.maxProperties} entries` });
      for (const [key, item] of Object.entries(value)) check(node.values, item, `${path}[${JSON.stringify(key)}]`, out);
      return;
    case 'object':
      if (!isPlainObject(value)) return void out.push({ path: at, message: `expected an object, got ${kindOf(value)}` });
      checkObject(node, value, path, out);
      return;
  }
}

function checkString(node: Extract<SchemaNode, { type: 'string' }>, value: string, at: string, out: SchemaProblem[]): void {
  if (node.enum && !node.enum.includes(value)) out.push({ path: at, message: `must be one of ${node.enum.join(', ')}; got ${JSON.stringify(value)}` });
  if (node.minLength !== undefined && value.length < node.minLength) out.push({ path: at, message: `must be at least ${node.minLength} character(s) long` });
  if (node.maxLength !== undefined && value.length > node.maxLength) out.push({ path: at, message: `must be at most ${node.maxLength} characters long` });
  if (node.pattern !== undefined && !new RegExp(node.pattern, 'u').test(value)) out.push({ path: at, message: `must match ${node.pattern}; got ${JSON.stringify(value)}` });
  if (node.format === 'date-time' && !RFC3339.test(value)) out.push({ path: at, message: `must be an RFC 3339 timestamp; got ${JSON.stringify(value)}` });
}

function checkObject(node: Extract<SchemaNode, { type: 'object' }>, value: Record<string, unknown>, path: string, out: SchemaProblem[]): void {
  const prefix = path === '' ? '' : `${path}.`;
  for (const [name, field] of Object.entries(node.properties)) {
    const item = value[name];
    if (item === undefined) {
      if (!field.optional) out.push({ path: `${prefix}${name}`, message: 'is required' });
      continue;
    }
    check(field.node, item, `${prefix}${name}`, out);
  }
  for (const name of Object.keys(value)) {
    if (!(name in node.properties)) out.push({ path: `${prefix}${name}`, message: 'is not a known field' });
  }
  if (node.exactlyOneOf) {
    const present = node.exactlyOneOf.filter((group) => group.every((name) => value[name] !== undefined));
    if (present.length !== 1) {
      const options = node.exactlyOneOf.map((group) => group.join('+')).join(' | ');
      out.push({ path: path === '' ? '(root)' : path, message: `exactly one of ${options} must be set; found ${present.length}` });
    }
  }
}

function checkListUniqueness(node: Extract<SchemaNode, { type: 'array' }>, value: unknown[], at: string, out: SchemaProblem[]): void {
  if (node.listType !== 'set' && node.listType !== 'map') return;
  const seen = new Set<string>();
  for (const item of value) {
    const key = node.listType === 'set' ? JSON.stringify(item) : JSON.stringify((node.mapKeys ?? []).map((k) => (isPlainObject(item) ? item[k] : undefined)));
    if (seen.has(key)) out.push({ path: at, message: `duplicate entry ${key}` });
    seen.add(key);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
