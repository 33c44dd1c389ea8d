/**
 * FAKE kubelet (test support, never shipped): the kubelet's streaming endpoint for exec, as
 * a real kube-apiserver reaches it. The API server looks up the pod's Node, dials
 * `status.addresses` : `status.daemonEndpoints.kubeletEndpoint.Port` over TLS with its
 * kubelet client certificate, and — because the Node declares `ExtendWebSocketsToKubelet`
 * in `status.declaredFeatures` (Kubernetes 1.36) — proxies the client's WebSocket upgrade
 * unchanged to `/exec/<namespace>/<pod>/<container>?command=..&input=1&output=1&error=1`
 * instead of translating it to SPDY. The command runs as a real child process in the pod's
 * fake root directory, streamed in the v5/v4 channel protocol (exec.ts).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { ApiError, badRequest } from './errors.js';
import { createExecServer, rejectUpgrade, runCommand, type ExecTarget, type WsServer } from './exec.js';

/** PEM files of the kubelet's serving certificate and the CA its clients (the API server) present. */
export interface KubeletTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA of the API server's kubelet client certificate (--kubelet-client-certificate). */
  readonly clientCaFile: string;
}

/** One exec the API server forwarded. */
export interface KubeletExec {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
  readonly stdin: boolean;
}

/** Where the command runs; throws an ApiError (404, 400) when the pod or container is not running here. */
export type KubeletExecResolver = (r: KubeletExec) => ExecTarget | Promise<ExecTarget>;

export class KubeletStreamingServer {
  private constructor(private readonly server: Server, private readonly wss: WsServer) {}

  static async start(o: { readonly tls: KubeletTls; readonly resolve: KubeletExecResolver }): Promise<KubeletStreamingServer> {
    // Only the API server's client certificate gets in, as a kubelet with x509 authentication.
    const server = createServer({ cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile), ca: readFileSync(o.tls.clientCaFile), requestCert: true, rejectUnauthorized: true });
    const wss = createExecServer();
    server.on('request', (_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('the fake kubelet serves only exec upgrades'));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void (async () => {
        const exec = parseExec(req);
        const target = await o.resolve(exec);
        wss.handleUpgrade(req, socket, head, (ws) => runCommand(ws, exec, target));
      })().catch((err: unknown) => rejectUpgrade(socket, err));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new KubeletStreamingServer(server, wss);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function parseExec(req: IncomingMessage): KubeletExec {
  const url = new URL(req.url ?? '/', 'https://kubelet.invalid');
  const [kind, namespace, pod, container] = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (kind !== 'exec' || !namespace || !pod || !container) throw new ApiError(404, 'NotFound', `the fake kubelet serves no ${url.pathname}`, {});
  const command = url.searchParams.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least 1 command');
  if (url.searchParams.get('tty') === '1') throw badRequest('the fake kubelet does not implement TTY exec');
  return { namespace, pod, container, command, stdin: url.searchParams.get('input') === '1' };
}
