/**
 * The one source of Ferry's custom resource schemas.
 *
 * Each field is written once with these builders. The builder value carries its
 * TypeScript type as a phantom (`Infer<typeof x>`), and `toOpenApi` turns the same value
 * into the OpenAPI v3 structural schema that goes into the CRD. So the TypeScript types
 * and `deploy/crds/*.yaml` cannot disagree: there is nothing to keep in sync by hand.
 * `validate` (validate.ts) checks plain objects against the same value.
 */

/** A node of the schema tree: what `toOpenApi` renders and `validate` enforces. */
export type SchemaNode =
  | StringNode
  | IntegerNode
  | BooleanNode
  | ArrayNode
  | ObjectNode
  | MapNode;

interface NodeBase {
  readonly description: string;
}

export interface StringNode extends NodeBase {
  readonly type: 'string';
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly format?: 'date-time';
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly default?: string;
}

export interface IntegerNode extends NodeBase {
  readonly type: 'integer';
  readonly format: 'int32' | 'int64';
  readonly minimum?: number;
  readonly maximum?: number;
  readonly default?: number;
}

export interface BooleanNode extends NodeBase {
  readonly type: 'boolean';
  readonly default?: boolean;
}

export interface ArrayNode extends NodeBase {
  readonly type: 'array';
  readonly items: SchemaNode;
  readonly maxItems?: number;
  readonly minItems?: number;
  /** `x-kubernetes-list-type`; `map` needs `mapKeys`. */
  readonly listType?: 'atomic' | 'set' | 'map';
  readonly mapKeys?: readonly string[];
}

export interface ObjectField {
  readonly node: SchemaNode;
  readonly optional: boolean;
}

export interface ObjectNode extends NodeBase {
  readonly type: 'object';
  readonly properties: Readonly<Record<string, ObjectField>>;
  /** Exactly one of these property groups must be present (rendered as `oneOf` of `required`). */
  readonly exactlyOneOf?: readonly (readonly string[])[];
}

/** A string-keyed map (`additionalProperties`), e.g. labels or a namespace mapping. */
export interface MapNode extends NodeBase {
  readonly type: 'map';
  readonly values: SchemaNode;
  readonly maxProperties?: number;
}

declare const phantom: unique symbol;

/** A schema whose values have TypeScript type `T`. */
export interface Schema<T> {
  readonly node: SchemaNode;
  readonly optional: boolean;
  readonly [phantom]?: T;
}

/** An optional object property (`opt(...)`). */
export interface Optional<T> extends Schema<T> {
  readonly optional: true;
}

/** A required object property. */
export interface Mandatory<T> extends Schema<T> {
  readonly optional: false;
}

/** The TypeScript type of the values a schema accepts. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type Props = Record<string, Schema<unknown>>;

/** The TypeScript object type for a property map: `opt(...)` properties become `?:`. */
export type InferObject<P extends Props> = Simplify<
  { [K in keyof P as P[K] extends Optional<unknown> ? never : K]: Infer<P[K]> } & {
    [K in keyof P as P[K] extends Optional<unknown> ? K : never]?: Infer<P[K]>;
  }
>;

function schema<T>(node: SchemaNode): Mandatory<T> {
  return { node, optional: false };
}

/** Marks an object property as optional. */
export function opt<T>(s: Schema<T>): Optional<T> {
  return { node: s.node, optional: true };
}

export interface StringOptions {
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly default?: string;
}

export function str(description: string, options: StringOptions = {}): Mandatory<string> {
  return schema({ type: 'string', description, ...options });
}

/** A string restricted to the given values; the TypeScript type is their union. */
export function oneOf<const E extends readonly [string, ...string[]]>(
  description: string,
  values: E,
  options: { readonly default?: E[number] } = {},
): Mandatory<E[number]> {
  return schema({ type: 'string', description, enum: values, ...options });
}

/** An RFC 3339 timestamp, as the Kubernetes API serves it (a string). */
export function time(description: string): Mandatory<string> {
  return schema({ type: 'string', description, format: 'date-time' });
}

export interface IntegerOptions {
  readonly minimum?: number;
  readonly maximum?: number;
  readonly default?: number;
}

/** A 64-bit integer (byte and file counts). JavaScript numbers are exact up to 2^53. */
export function int64(description: string, options: IntegerOptions = {}): Mandatory<number> {
  return schema({ type: 'integer', format: 'int64', description, ...options });
}

export function int32(description: string, options: IntegerOptions = {}): Mandatory<number> {
  return schema({ type: 'integer', format: 'int32', description, ...options });
}

export function bool(description: string, options: { readonly default?: boolean } = {}): Mandatory<boolean> {
  return schema({ type: 'boolean', description, ...options });
}

export interface ArrayOptions {
  readonly maxItems?: number;
  readonly minItems?: number;
  readonly listType?: 'atomic' | 'set';
}

export function arr<T>(description: string, items: Schema<T>, options: ArrayOptions = {}): Mandatory<T[]> {
  return schema({ type: 'array', description, items: items.node, ...options });
}

/** A list of objects keyed by some of their fields (`x-kubernetes-list-type: map`), e.g. conditions. */
export function keyedList<T extends object>(
  description: string,
  items: Schema<T>,
  keys: readonly [keyof T & string, ...(keyof T & string)[]],
  options: { readonly maxItems?: number } = {},
): Mandatory<T[]> {
  return schema({ type: 'array', description, items: items.node, listType: 'map', mapKeys: keys, ...options });
}

export function map<T>(description: string, values: Schema<T>, options: { readonly maxProperties?: number } = {}): Mandatory<Record<string, T>> {
  return schema({ type: 'map', description, values: values.node, ...options });
}

export interface ObjectOptions<P> {
  /** Groups of properties of which exactly one must be set (e.g. `[['s3'], ['filesystem']]`). */
  readonly exactlyOneOf?: readonly (readonly (keyof P & string)[])[];
}

export function obj<P extends Props>(description: string, properties: P, options: ObjectOptions<P> = {}): Mandatory<InferObject<P>> {
  const fields: Record<string, ObjectField> = {};
  for (const [name, s] of Object.entries(properties)) fields[name] = { node: s.node, optional: s.optional };
  return schema({ type: 'object', description, properties: fields, ...options });
}

/** The same schema with another description (for reusing a shape under a field name). */
export function describe<S extends Schema<unknown>>(s: S, description: string): S {
  return { ...s, node: { ...s.node, description } };
}

/** An OpenAPI v3 schema object as it appears in a CRD (`JSONSchemaProps`), plain data. */
export interface OpenApiSchema {
  type?: string;
  description?: string;
  format?: string;
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  items?: OpenApiSchema;
  maxItems?: number;
  minItems?: number;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  additionalProperties?: OpenApiSchema;
  maxProperties?: number;
  oneOf?: { required: string[] }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
}

/** Renders a schema node as a structural OpenAPI v3 schema (every node has a type). */
export function toOpenApi(node: SchemaNode): OpenApiSchema {
  switch (node.type) {
    case 'string':
    case 'integer':
    case 'boolean': {
      const out: OpenApiSchema = {};
      for (const [key, value] of Object.entries(node)) {
        if (value !== undefined) (out as Record<string, unknown>)[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
      }
      return out;
    }
    case 'array': {
      const out: OpenApiSchema = { type: 'array', description: node.description, items: toOpenApi(node.items) };
      if (node.minItems !== undefined) out.minItems = node.minItems;
      if (node.maxItems !== undefined) out.maxItems = node.maxItems;
      if (node.listType) out['x-kubernetes-list-type'] = node.listType;
      if (node.mapKeys) out['x-kubernetes-list-map-keys'] = [...node.mapKeys];
      return out;
    }
    case 'map': {
      const out: OpenApiSchema = { type: 'object', description: node.description, additionalProperties: toOpenApi(node.values) };
      if (node.maxProperties !== undefined) out.maxProperties = node.maxProperties;
      return out;
    }
    case 'object': {
      const properties: Record<string, OpenApiSchema> = {};
      const required: string[] = [];
      for (const [name, field] of Object.entries(node.properties)) {
        properties[name] = toOpenApi(field.node);
        if (!field.optional) required.push(name);
      }
      const out: OpenApiSchema = { type: 'object', description: node.description, properties };
      if (required.length > 0) out.required = required;
      if (node.exactlyOneOf) out.oneOf = node.exactlyOneOf.map((group) => ({ required: [...group] }));
      return out;
    }
  }
}
