/**
 * Test support (not product): the public API server on the fake API server with real TLS,
 * and typed gRPC clients for it. Certificates come from the openssl CLI: one CA for the
 * server certificate and for client certificates (`clientCert(cn, groups)`), and a second,
 * unrelated CA for certificates that must be refused.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { API_PROTO_FILE, HEALTH_PROTO_FILE, PROTO_LOADER_OPTIONS, type ApiProtoGrpcType, type HealthProtoGrpcType } from '@ferry/api';
import { silentLogger } from '@ferry/log';
import type { ClusterState, ClusterWatch } from '../cluster/cluster-state.js';
import type { Clock } from '../clock.js';
import { defaultPurgeMovers, type PurgeMoverFactory } from '../purge.js';
import { CoordinatorMetrics } from '../metrics.js';
import { Repositories } from '../repositories.js';
import { ChangeFeed, type ApiContext } from './rpc.js';
import { ApiServer } from './server.js';

export type Protos = ApiProtoGrpcType & HealthProtoGrpcType;

export function loadClientProtos(): Protos {
  const def = loadSync([API_PROTO_FILE, HEALTH_PROTO_FILE], { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] });
  return loadPackageDefinition(def) as unknown as Protos;
}

export interface ApiCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client certificate from the API's client CA, with CN = user and one O per group. */
  clientCert(cn: string, groups?: readonly string[]): { cert: Buffer; key: Buffer };
  /** A client certificate from an unrelated CA. */
  foreignCert(cn: string): { cert: Buffer; key: Buffer };
}

export function makeApiCerts(dir: string): ApiCerts {
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ferry-api-test-ca']);
  run(['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=some-other-ca']);
  const leaf = (name: string, subject: string, ext: string, ca: string): { cert: Buffer; key: Buffer } => {
    run(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
    return { cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) };
  };
  leaf('server', '/CN=ferry-coordinator', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth', 'ca');
  let n = 0;
  return {
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: (cn, groups = []) => leaf(`client-${n++}`, `/CN=${cn}${groups.map((g) => `/O=${g}`).join('')}`, 'extendedKeyUsage=clientAuth', 'ca'),
    foreignCert: (cn) => leaf(`foreign-${n++}`, `/CN=${cn}`, 'extendedKeyUsage=clientAuth', 'other-ca'),
  };
}

export interface RunningApi {
  readonly server: ApiServer;
  readonly port: number;
  readonly context: ApiContext;
  stop(): Promise<void>;
}

/** An API server over `cluster`, fed by its own ClusterWatch (the coordinator feeds it from the leader's). */
export async function startApi(o: { cluster: ClusterState; clock: Clock; certs?: ApiCerts; movers?: PurgeMoverFactory; resyncMs?: number }): Promise<RunningApi> {
  const changes = new ChangeFeed();
  const watch: ClusterWatch = o.cluster.watch((e) => changes.publish(e));
  await watch.start();
  const context: ApiContext = {
    cluster: o.cluster,
    clock: o.clock,
    log: silentLogger,
    namespace: 'ferry-system',
    repositories: new Repositories({ cluster: o.cluster, namespace: 'ferry-system' }),
    movers: o.movers ?? defaultPurgeMovers,
    changes,
    resyncMs: o.resyncMs ?? 60_000,
    streams: { open: 0 },
    metrics: new CoordinatorMetrics({ defaultMetrics: false }),
  };
  const server = new ApiServer({ context, ...(o.certs ? { tls: { certFile: o.certs.serverCert, keyFile: o.certs.serverKey, clientCaFile: o.certs.ca } } : {}) });
  const port = await server.listen('127.0.0.1', 0);
  return {
    server,
    port,
    context,
    stop: async () => {
      await server.stop();
      await watch.stop();
    },
  };
}

export function tlsCredentials(certs: ApiCerts, client?: { cert: Buffer; key: Buffer }): ChannelCredentials {
  const ca = readFileSync(certs.ca);
  return client ? credentials.createSsl(ca, client.key, client.cert) : credentials.createSsl(ca);
}

export function bearer(token: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

/**
 * A generated client method. Typed by its last overload, `(argument, callback)`, which is the
 * one TypeScript infers from; every method also takes `(argument, metadata, callback)`.
 */
type UnaryMethod<Req, Res> = (req: Req, cb: (err: ServiceError | null, res?: Res) => void) => unknown;

/** Calls a unary method with `md`; resolves with the response or the ServiceError. */
export function invoke<Req, Res>(method: UnaryMethod<Req, Res>, client: object, req: Req, md = new Metadata()): Promise<{ res?: Res; err?: ServiceError }> {
  const withMetadata = method as unknown as (req: Req, md: Metadata, cb: (err: ServiceError | null, res?: Res) => void) => unknown;
  return new Promise((resolve) => withMetadata.call(client, req, md, (err, res) => resolve(err ? { err } : { res: res as Res })));
}
