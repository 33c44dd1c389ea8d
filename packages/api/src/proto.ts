import { fileURLToPath } from 'node:url';

/**
 * Where the .proto files live: `proto/` at the repository root (and at the same place
 * relative to this package in the agent image). src/ and dist/ sit at the same depth,
 * so one relative URL serves both.
 */
export const PROTO_ROOT: string = fileURLToPath(new URL('../../../proto/', import.meta.url));

/** The AgentHub service definition, relative to PROTO_ROOT. */
export const AGENT_PROTO_FILE = 'ferry/v1/agent.proto';

/** The public API (Backups, Restores, Schedules, Repositories, Transfer), relative to PROTO_ROOT. */
export const API_PROTO_FILE = 'ferry/v1/api.proto';

/** The standard gRPC health service served beside the public API, relative to PROTO_ROOT. */
export const HEALTH_PROTO_FILE = 'grpc/health/v1/health.proto';

/**
 * Options for `@grpc/proto-loader`'s `loadSync`. They must match the generator flags in
 * test/checks/gen-proto.mjs: the generated `__Output` types describe what the loader
 * hands out with exactly these options (camelCase fields, numbers for 64-bit integers,
 * enum names as strings, defaults filled in, `oneof` names set).
 */
export const PROTO_LOADER_OPTIONS = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
} as const;
