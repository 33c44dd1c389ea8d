/**
 * AgentHub identity over real mutual TLS (openssl-made certificates, a real grpc-js client):
 * node-certificate accepts only a certificate naming the node; shared-certificate also
 * accepts the one shared agent certificate for any node, and says once that this is weaker.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, loadPackageDefinition, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { AGENT_PROTO_FILE, PROTO_LOADER_OPTIONS, type AgentMessage, type AgentProtoGrpcType, type CoordinatorMessage__Output } from '@ferry/api';
import { makeHubCerts, type HubCerts } from '../../../test/e2e/processes.fixture.js';
import type { AgentIdentity } from './agent-identity.js';
import { ManualClock } from './clock.js';
import { AgentHub } from './hub.js';
import { createLogger } from '@ferry/log';

let dir: string;
let certs: HubCerts;
const proto = loadPackageDefinition(loadSync(AGENT_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as AgentProtoGrpcType;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-hub-'));
  // Client certificates with CN node-a, ferry-agent (the shared one) and agents-of-x (a custom shared name).
  certs = makeHubCerts(dir, ['node-a', 'ferry-agent', 'agents-of-x']);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function startHub(identity: AgentIdentity | undefined): Promise<{ hub: AgentHub; port: number; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', write: (line) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const hub = new AgentHub({
    clock: new ManualClock(),
    log,
    coordinatorId: 'test',
    tls: { caFile: certs.ca, certFile: certs.serverCert, keyFile: certs.serverKey },
    ...(identity ? { identity } : {}),
    handlers: { onResult: async () => undefined, onProgress: () => undefined, onConnect: () => undefined, onDisconnect: () => undefined },
  });
  return { hub, port: await hub.listen('127.0.0.1:0'), logs };
}

/** Dials with the client certificate whose CN is `cn`, says Hello for `node`; resolves with Welcome's id or the refusal. */
async function hello(port: number, cn: string, node: string): Promise<{ welcome?: string; code?: number; details?: string }> {
  const c = certs.client(cn);
  const creds = credentials.createSsl(await readFile(certs.ca), await readFile(c.key), await readFile(c.cert));
  const client = new proto.ferry.v1.AgentHub(`localhost:${port}`, creds);
  const stream = client.Connect() as unknown as ClientDuplexStream<AgentMessage, CoordinatorMessage__Output>;
  try {
    return await new Promise((resolve) => {
      stream.on('data', (m: CoordinatorMessage__Output) => m.welcome && resolve({ welcome: m.welcome.coordinatorId }));
      stream.on('error', (err: Error & { code?: number; details?: string }) => resolve({ code: err.code, details: err.details }));
      stream.write({ hello: { nodeName: node, agentVersion: 'test', instanceId: `i-${cn}-${node}`, movers: [], maxConcurrentJobs: 1, jobs: [] } });
    });
  } finally {
    stream.cancel();
    client.close();
  }
}

const PERMISSION_DENIED = 7;
// Streams are closed right after Welcome, so sessions are counted from the hub's log.
const connected = (logs: Record<string, unknown>[]) => logs.filter((l) => l['msg'] === 'agent connected').map((l) => String(l['node'])).sort();
const warnings = (logs: Record<string, unknown>[]) => logs.filter((l) => l['level'] === 'warn' && /any holder of the agent certificate can claim any node/.test(String(l['msg'])));

describe('AgentHub agent identity over mTLS', () => {
  it('node-certificate (the default): welcomes a certificate naming the node, refuses the shared one and another node', async () => {
    const { hub, port, logs } = await startHub(undefined);
    try {
      expect(await hello(port, 'node-a', 'node-a')).toEqual({ welcome: 'test' });
      const shared = await hello(port, 'ferry-agent', 'node-b');
      expect(shared.code).toBe(PERMISSION_DENIED);
      expect(shared.details).toMatch(/names ferry-agent, not node node-b.*--agent-identity shared-certificate/);
      expect((await hello(port, 'node-a', 'node-b')).code).toBe(PERMISSION_DENIED);
      expect(connected(logs)).toEqual(['node-a']);
      expect(warnings(logs)).toHaveLength(0);
    } finally {
      await hub.stop();
    }
  });

  it('shared-certificate: the shared certificate may claim any node, node certificates still work, other names are refused; one warning', async () => {
    const { hub, port, logs } = await startHub({ mode: 'shared-certificate', sharedName: 'ferry-agent' });
    try {
      expect(await hello(port, 'ferry-agent', 'node-b')).toEqual({ welcome: 'test' });
      expect(await hello(port, 'ferry-agent', 'node-c')).toEqual({ welcome: 'test' });
      expect(await hello(port, 'node-a', 'node-a')).toEqual({ welcome: 'test' });
      const other = await hello(port, 'agents-of-x', 'node-d');
      expect(other.code).toBe(PERMISSION_DENIED);
      expect(other.details).toMatch(/neither node node-d nor the shared agent name ferry-agent/);
      expect((await hello(port, 'node-a', 'node-e')).code).toBe(PERMISSION_DENIED);
      expect(connected(logs)).toEqual(['node-a', 'node-b', 'node-c']);
      expect(warnings(logs)).toHaveLength(1);
      expect(warnings(logs)[0]).toMatchObject({ sharedName: 'ferry-agent' });
    } finally {
      await hub.stop();
    }
  });

  it('shared-certificate with a configured name accepts that name only', async () => {
    const { hub, port } = await startHub({ mode: 'shared-certificate', sharedName: 'agents-of-x' });
    try {
      expect(await hello(port, 'agents-of-x', 'node-z')).toEqual({ welcome: 'test' });
      expect((await hello(port, 'ferry-agent', 'node-y')).code).toBe(PERMISSION_DENIED);
    } finally {
      await hub.stop();
    }
  });
});
