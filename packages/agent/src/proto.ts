/** Loads the AgentHub service definition from proto/ferry/v1/agent.proto at runtime. */
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { AGENT_PROTO_FILE, PROTO_LOADER_OPTIONS, type AgentProtoGrpcType } from '@ferry/api';

let cached: AgentProtoGrpcType | undefined;

export function loadAgentProto(): AgentProtoGrpcType {
  cached ??= loadPackageDefinition(loadSync(AGENT_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as AgentProtoGrpcType;
  return cached;
}
