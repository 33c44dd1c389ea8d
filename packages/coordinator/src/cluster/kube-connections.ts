/**
 * client-node builds a new https.Agent for every API request, so every request opens a new
 * TCP connection and does a full TLS handshake, and nothing is kept alive. At a few requests
 * per volume that is most of a large Backup's cost on both sides (and garbage for the
 * coordinator's heap). This hands every request a pooled keep-alive agent instead, one per
 * distinct set of TLS options, so a rotated client certificate or CA still gets its own.
 * Watches take another path (applyToFetchOptions) and keep one connection each.
 */
import { Agent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * Idle pooled sockets are closed before the API server closes them (it drops idle
 * HTTP/1.1 connections after 90 s), so a request never goes out on a socket being closed.
 */
const IDLE_SOCKET_MS = 60_000;

type TlsOptions = Pick<Agent['options'], 'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername'>;

function keyOf(o: TlsOptions): string {
  return JSON.stringify([o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername], (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v));
}

export interface ConnectionPool {
  readonly agents: ReadonlyMap<string, Agent>;
  destroy(): void;
}

const pools = new WeakMap<KubeConfig, ConnectionPool>();

/** Makes the API clients of `kubeConfig` reuse connections (once per KubeConfig); returns its pool. */
export function reuseConnections(kubeConfig: KubeConfig): ConnectionPool {
  const existing = pools.get(kubeConfig);
  if (existing) return existing;
  const agents = new Map<string, Agent>();
  const apply = kubeConfig.applySecurityAuthentication.bind(kubeConfig);
  kubeConfig.applySecurityAuthentication = async (context) => {
    await apply(context);
    const fresh = context.getAgent();
    if (!(fresh instanceof Agent)) return;
    const key = keyOf(fresh.options);
    let pooled = agents.get(key);
    if (!pooled) agents.set(key, (pooled = new Agent({ ...fresh.options, keepAlive: true, timeout: IDLE_SOCKET_MS })));
    context.setAgent(pooled);
  };
  const pool = { agents, destroy: () => agents.forEach((a) => a.destroy()) };
  pools.set(kubeConfig, pool);
  return pool;
}
