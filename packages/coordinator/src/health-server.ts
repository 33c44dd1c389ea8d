/** `/metrics`, `/healthz` (the process serves HTTP) and `/readyz` (leader with everything started). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  readonly registry: Registry;
  readonly ready: () => { ok: boolean; detail: string };
  readonly beforeScrape?: () => void;
}

export class HealthServer {
  private server?: Server;

  constructor(private readonly o: HealthServerOptions) {}

  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      if (path === '/readyz') {
        const r = this.o.ready();
        return void res.writeHead(r.ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${r.detail}\n`);
      }
      if (path === '/metrics') {
        this.o.beforeScrape?.();
        void this.o.registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': this.o.registry.contentType }).end(text));
        return;
      }
      res.writeHead(404).end();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
