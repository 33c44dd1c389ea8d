/**
 * The public API's TLS listener. Client certificates are optional (token callers connect
 * without one), but a certificate that is presented must chain to the client CA: grpc-js
 * cannot express "optional but verified" (with requireClientCertificate false it accepts
 * and then hides an unverified certificate, so the caller would silently fall back to token
 * auth). So this module terminates TLS itself, closes connections whose presented
 * certificate fails verification, and hands the rest to the gRPC server through its
 * connection injector; grpc-js then reports the verified peer certificate in
 * `call.getAuthContext()`.
 */
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server as TlsServer, type TLSSocket, type SecureContextOptions } from 'node:tls';
import type { ConnectionInjector } from '@grpc/grpc-js';
import type { Logger } from '@ferry/log';
import { CoordinatorError, messageOf } from '../errors.js';

export interface ApiTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA that client certificates must chain to. */
  readonly clientCaFile: string;
  /** How often the files are checked for rotation (default 60 s). */
  readonly refreshIntervalMs?: number;
}

export interface TlsListenerOptions {
  readonly files: ApiTlsFiles;
  readonly injector: ConnectionInjector;
  readonly log: Logger;
}

export class TlsListener {
  private server?: TlsServer;
  private timer?: NodeJS.Timeout;
  private fingerprint = '';
  /** Connections refused because their client certificate did not verify (for tests and metrics). */
  rejectedCertificates = 0;

  constructor(private readonly o: TlsListenerOptions) {}

  async listen(host: string, port: number): Promise<number> {
    const context = await this.readContext();
    const server = createServer({ ...context, requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    server.on('secureConnection', (socket) => this.onSecure(socket));
    server.on('tlsClientError', (err) => this.o.log.debug('API TLS handshake failed', { error: err.message }));
    this.server = server;
    const bound = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as { port: number }).port));
    });
    this.timer = setInterval(() => void this.reloadIfChanged(), this.o.files.refreshIntervalMs ?? 60_000);
    this.timer.unref();
    return bound;
  }

  private onSecure(socket: TLSSocket): void {
    const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
    if (presented && !socket.authorized) {
      this.rejectedCertificates++;
      this.o.log.warn('API client certificate refused: it does not chain to the client CA (--api-client-ca)', { error: String(socket.authorizationError), remote: socket.remoteAddress });
      socket.destroy();
      return;
    }
    this.o.injector.injectConnection(socket);
  }

  private async readContext(): Promise<SecureContextOptions> {
    const f = this.o.files;
    const read = (path: string, flag: string) =>
      readFile(path).catch((err: unknown) => {
        throw new CoordinatorError('InvalidConfig', `cannot read ${flag} file ${path} for the API server (${messageOf(err)}); mount the certificate Secret, set ${flag}, or --api-listen off`);
      });
    const [cert, key, ca] = await Promise.all([read(f.certFile, '--api-tls-cert'), read(f.keyFile, '--api-tls-key'), read(f.clientCaFile, '--api-client-ca')]);
    this.fingerprint = await this.filesFingerprint();
    return { cert, key, ca };
  }

  private async filesFingerprint(): Promise<string> {
    const f = this.o.files;
    const stats = await Promise.all([f.certFile, f.keyFile, f.clientCaFile].map((p) => stat(p).then((s) => `${s.mtimeMs}:${s.size}`, () => 'missing')));
    return stats.join('|');
  }

  /** Certificate rotation: new connections get the new files; a half-written set is retried next time. */
  private async reloadIfChanged(): Promise<void> {
    if ((await this.filesFingerprint()) === this.fingerprint) return;
    try {
      this.server?.setSecureContext(await this.readContext());
      this.o.log.info('API TLS certificate reloaded');
    } catch (err) {
      this.o.log.warn('API TLS certificate reload failed; keeping the previous one', { error: messageOf(err) });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
