/**
 * The coordinator's public gRPC API server (proto/ferry/v1/api.proto): Backups, Restores,
 * Schedules, Repositories and Transfer, plus grpc.health.v1.Health and server reflection,
 * on its own port. TLS always (client certificates optional but verified; see
 * tls-listener.ts) unless the coordinator runs --insecure. Runs only on the leader.
 */
import { loadPackageDefinition, Server, ServerCredentials, type ConnectionInjector, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { API_PROTO_FILE, HEALTH_PROTO_FILE, PROTO_LOADER_OPTIONS, type ApiProtoGrpcType, type HealthProtoGrpcType } from '@ferry/api';
import { backupsHandlers } from './backups-service.js';
import { HealthState } from './health-service.js';
import { repositoriesHandlers } from './repositories-service.js';
import { restoresHandlers } from './restores-service.js';
import type { ApiContext } from './rpc.js';
import { schedulesHandlers } from './schedules-service.js';
import { TlsListener, type ApiTlsFiles } from './tls-listener.js';
import { transferHandlers } from './transfer-service.js';

type Protos = ApiProtoGrpcType & HealthProtoGrpcType;

interface ServiceEntry {
  readonly name: string;
  readonly definition: (p: Protos) => ServiceDefinition;
  readonly handlers: (ctx: ApiContext) => UntypedServiceImplementation;
}

/** Every ferry.v1 service the server registers: one table, so an implementation is swapped in one place. */
export const API_SERVICES: readonly ServiceEntry[] = [
  { name: 'ferry.v1.Backups', definition: (p) => p.ferry.v1.Backups.service, handlers: backupsHandlers },
  { name: 'ferry.v1.Restores', definition: (p) => p.ferry.v1.Restores.service, handlers: restoresHandlers },
  { name: 'ferry.v1.Schedules', definition: (p) => p.ferry.v1.Schedules.service, handlers: schedulesHandlers },
  { name: 'ferry.v1.Repositories', definition: (p) => p.ferry.v1.Repositories.service, handlers: repositoriesHandlers },
  { name: 'ferry.v1.Transfer', definition: (p) => p.ferry.v1.Transfer.service, handlers: transferHandlers },
];

let loaded: { definition: PackageDefinition; protos: Protos } | undefined;
function loadProtos(): { definition: PackageDefinition; protos: Protos } {
  if (!loaded) {
    const definition = loadSync([API_PROTO_FILE, HEALTH_PROTO_FILE], { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] });
    loaded = { definition, protos: loadPackageDefinition(definition) as unknown as Protos };
  }
  return loaded;
}

export interface ApiServerOptions {
  readonly context: ApiContext;
  /** Undefined: plaintext, bearer tokens only (--insecure). */
  readonly tls?: ApiTlsFiles;
}

export class ApiServer {
  readonly health: HealthState;
  private readonly server: Server;
  private injector?: ConnectionInjector;
  private listener?: TlsListener;

  constructor(private readonly o: ApiServerOptions) {
    const { definition, protos } = loadProtos();
    this.server = new Server({ 'grpc.keepalive_permit_without_calls': 1, 'grpc.http2.min_ping_interval_without_data_ms': 10_000 } as Record<string, number>);
    this.health = new HealthState(API_SERVICES.map((s) => s.name));
    for (const s of API_SERVICES) this.server.addService(s.definition(protos), s.handlers(o.context));
    this.server.addService(protos.grpc.health.v1.Health.service, this.health.handlers(o.context.streams));
    new ReflectionService(definition).addToServer(this.server);
  }

  /** Open server streams (watches, health watches); 0 once every client has gone. */
  get openStreams(): number {
    return this.o.context.streams.open;
  }

  /** Connections refused for a client certificate that does not chain to the client CA. */
  get rejectedCertificates(): number {
    return this.listener?.rejectedCertificates ?? 0;
  }

  async listen(host: string, port: number): Promise<number> {
    const bound = this.o.tls ? await this.listenTls(this.o.tls, host, port) : await this.listenPlain(host, port);
    this.health.set(true);
    return bound;
  }

  private async listenTls(tls: ApiTlsFiles, host: string, port: number): Promise<number> {
    // TLS is terminated by the listener; the gRPC server sees already-verified connections.
    this.injector = this.server.createConnectionInjector(ServerCredentials.createInsecure());
    this.listener = new TlsListener({ files: tls, injector: this.injector, log: this.o.context.log });
    return this.listener.listen(host, port);
  }

  private listenPlain(host: string, port: number): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => this.server.bindAsync(address, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  }

  async stop(): Promise<void> {
    this.health.closeAll();
    // Stop accepting first; the listener's close resolves once forceShutdown has ended the sessions.
    const closed = this.listener?.close();
    this.injector?.destroy();
    this.server.forceShutdown();
    await closed;
  }
}
