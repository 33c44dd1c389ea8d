import { API_GROUP, API_VERSION, GROUP_VERSION } from './common.js';
import { toOpenApi, type OpenApiSchema, type Schema } from './schema.js';

/** The parts of metav1.ObjectMeta Ferry reads and writes (timestamps as RFC 3339 strings). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A Ferry custom resource object as the API server serves it. */
export interface Resource<K extends string, Spec, Status> {
  apiVersion: typeof GROUP_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** A list as returned by `GET .../<plural>`. */
export interface ResourceList<R> {
  apiVersion: typeof GROUP_VERSION;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: R[];
}

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  /** 1 = shown only with `-o wide`. */
  readonly priority?: number;
}

/** Everything needed to render one CustomResourceDefinition. */
export interface CrdDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  readonly description: string;
  readonly spec: Schema<unknown>;
  readonly status: Schema<unknown>;
  readonly printerColumns: readonly PrinterColumn[];
}

/** Every Ferry kind is listed by `kubectl get ferry`. */
export const CRD_CATEGORIES = ['ferry'] as const;

export const AGE_COLUMN: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1) for one kind, as plain data. */
export function renderCrd(def: CrdDefinition): Record<string, unknown> {
  const openApiV3Schema: OpenApiSchema = {
    type: 'object',
    description: def.description,
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      metadata: { type: 'object' },
      spec: toOpenApi(def.spec.node),
      status: toOpenApi(def.status.node),
    },
    required: ['spec'],
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${API_GROUP}`, labels: { 'app.kubernetes.io/part-of': 'ferry' } },
    spec: {
      group: API_GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [...CRD_CATEGORIES],
      },
      scope: def.scope,
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApiV3Schema },
        },
      ],
    },
  };
}
