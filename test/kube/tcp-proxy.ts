/**
 * Test support (not product): a TCP proxy on loopback in front of the API server, so a test
 * can cut a client off the way a network partition or a restarted load balancer does. TLS
 * passes through untouched (the serving certificate names 127.0.0.1, any port).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly open = new Set<Socket>();
  private cutOff = false;

  private constructor(private readonly server: Server, readonly port: number) {}

  /** Listens on a free loopback port and forwards every connection to `target`. */
  static async start(target: { readonly host: string; readonly port: number }): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => proxy.accept(client, target));
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    proxy = new TcpProxy(server, port);
    return proxy;
  }

  /** `https://127.0.0.1:<port>`: the URL clients use instead of the server's. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Resets every open connection and every new one until `restore()`. */
  cut(): void {
    this.cutOff = true;
    for (const s of this.open) s.resetAndDestroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { readonly host: string; readonly port: number }): void {
    if (this.cutOff) return void client.resetAndDestroy();
    const upstream = connect({ host: target.host, port: target.port });
    for (const s of [client, upstream]) {
      this.open.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.open.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
