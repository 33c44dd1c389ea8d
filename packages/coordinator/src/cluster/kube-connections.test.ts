/**
 * API requests reuse kept-alive TLS connections (client-node alone opens one per request):
 * a real HTTPS server with an openssl-made certificate counts the connections that ten
 * requests of a real CoreV1Api open, with the pool and without it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { makeHubCerts, type HubCerts } from '../../../../test/e2e/processes.fixture.js';
import { reuseConnections } from './kube-connections.js';

let dir: string;
let certs: HubCerts;
let server: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-kube-connections-'));
  certs = makeHubCerts(dir, []);
  server = createServer({ cert: await readFile(certs.serverCert), key: await readFile(certs.serverKey) }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p', namespace: 'ns', resourceVersion: '1' } }));
  });
  server.on('secureConnection', () => connections++);
  port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function kubeConfig(): Promise<KubeConfig> {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: (await readFile(certs.ca)).toString('base64') }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function connectionsFor(kc: KubeConfig): Promise<number> {
  const before = connections;
  const core = kc.makeApiClient(CoreV1Api);
  for (let i = 0; i < 10; i++) expect((await core.readNamespacedPod({ namespace: 'ns', name: 'p' })).metadata?.name).toBe('p');
  return connections - before;
}

describe('reuseConnections', () => {
  it('ten requests share one kept-alive connection; without the pool each opens its own', async () => {
    expect(await connectionsFor(await kubeConfig())).toBe(10);
    const kc = await kubeConfig();
    const pool = reuseConnections(kc);
    expect(reuseConnections(kc)).toBe(pool);
    expect(await connectionsFor(kc)).toBe(1);
    expect(pool.agents.size).toBe(1);
    pool.destroy();
  });
});
