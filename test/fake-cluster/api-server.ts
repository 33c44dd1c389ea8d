/**
 * FAKE Kubernetes API server (test support, never shipped). An HTTPS server that speaks
 * enough of the Kubernetes API, faithfully, for controllers and webhooks to be tested with
 * the real @kubernetes/client-node: see docs/testing.md for what it implements and what it
 * does not. Start one per test file with `FakeApiServer.start()`, build clients from
 * `kubeConfig()`, and `stop()` it in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { MutatingAdmission } from './admission.js';
import type { AdmissionCall, MutatingWebhookConfig } from './admission.js';
import { Authenticator, Authorizer } from './auth.js';
import type { PolicyRule, TokenEntry } from './auth.js';
import { generateTls, removeTls } from './certs.js';
import type { TlsBundle } from './certs.js';
import { ClusterControllers } from './controllers.js';
import { createExecServer, handleExecUpgrade } from './exec.js';
import type { ExecHandler } from './exec.js';
import { createRequestHandler } from './http-router.js';
import type { ServerContext } from './http-router.js';
import { builtinResources, customResource, FERRY_CRDS, ResourceRegistry } from './resources.js';
import type { CustomResourceDefinition, ResourceType } from './resources.js';
import { Store } from './store.js';
import type { Clock } from './store.js';
import { EventHistory } from './watch.js';

export interface FakeApiServerOptions {
  /** Bearer tokens and who they belong to; an admin token (system:masters) is always added. */
  tokens?: Record<string, TokenEntry>;
  /** Allow rules for non-admin users (API requests and SubjectAccessReviews). */
  policy?: PolicyRule[];
  /** Watch events retained; watches from older resourceVersions get 410 Expired. Default 10000. */
  watchHistoryLimit?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK. Default 1000 ms (real: ~60 s). */
  bookmarkIntervalMs?: number;
  /** Bound pods wait for their kubelet to finish deleting them. Default true. */
  gracefulPodDeletion?: boolean;
  /** Custom resources registered at start; defaults to the Ferry CRDs. */
  customResources?: readonly CustomResourceDefinition[];
  clock?: Clock;
  /** Namespaces created at start. Default: default, kube-system, kube-public. */
  namespaces?: string[];
}

const systemClock: Clock = { now: () => new Date() };

type Ctx = ServerContext & { execHandler?: ExecHandler; wss: ReturnType<typeof createExecServer> };

export class FakeApiServer {
  readonly url: string;
  readonly caPem: string;
  readonly adminToken: string;
  private readonly sockets = new Set<Duplex>();

  private constructor(
    private readonly server: Server,
    private readonly ctx: Ctx,
    private readonly controllers: ClusterControllers,
    private readonly tls: TlsBundle,
    adminToken: string,
  ) {
    this.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.caPem = tls.caPem;
    this.adminToken = adminToken;
    server.on('connection', (s: Duplex) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const tls = await generateTls();
    const adminToken = `fake-admin-${randomBytes(12).toString('hex')}`;
    const ctx = buildContext(opts, adminToken);
    const controllers = new ClusterControllers({
      store: ctx.store, registry: ctx.registry, history: ctx.history, namespaceType: ctx.namespaceType,
      serviceAccountType: ctx.registry.find('', 'v1', 'serviceaccounts')!,
    });
    for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public']) {
      ctx.store.create(ctx.namespaceType, '', { metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } }, spec: { finalizers: ['kubernetes'] } });
    }
    const server = createServer({ cert: tls.certPem, key: tls.keyPem }, createRequestHandler(ctx));
    server.on('upgrade', (req, socket: Duplex, head: Buffer) => handleExecUpgrade(ctx, req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const api = new FakeApiServer(server, ctx, controllers, tls, adminToken);
    ctx.serverAddress = api.url.replace('https://', '');
    return api;
  }

  /** A KubeConfig for client-node pointing at this server, as the admin or with `token`. */
  kubeConfig(token: string = this.adminToken): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, caData: Buffer.from(this.caPem).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'user', token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'user', namespace: 'default' }],
      currentContext: 'fake',
    });
    return kc;
  }

  registerCustomResource(crd: CustomResourceDefinition): ResourceType {
    const rt = customResource(crd);
    this.ctx.registry.add(rt);
    return rt;
  }

  /** Registers a mutating webhook; returns a function that unregisters it. */
  registerMutatingWebhook(cfg: MutatingWebhookConfig): () => void {
    return this.ctx.admission.register(cfg);
  }

  /** Every webhook call so far, in order, with request, response and outcome. */
  get admissionCalls(): readonly AdmissionCall[] {
    return this.ctx.admission.calls;
  }

  addToken(token: string, user: TokenEntry): void {
    this.ctx.authn.addToken(token, user);
  }

  addPolicyRule(rule: PolicyRule): void {
    this.ctx.authz.addRule(rule);
  }

  setExecHandler(handler: ExecHandler | undefined): void {
    this.ctx.execHandler = handler;
  }

  setWatchHistoryLimit(events: number): void {
    this.ctx.history.setLimit(events);
  }

  /**
   * Drops the whole watch window, like an etcd compaction at the current revision: a watch
   * or continue from any older resourceVersion gets 410; one from the current RV does not.
   */
  compactWatchHistory(): void {
    this.ctx.history.compact(this.ctx.store.currentRv());
  }

  /** The current global resourceVersion. */
  resourceVersion(): number {
    return this.ctx.store.currentRv();
  }

  /** Ends all open watches, like an API server restart would (clients re-watch from their last RV). */
  closeWatches(): void {
    for (const res of [...this.ctx.openWatches]) res.end();
  }

  async stop(): Promise<void> {
    this.controllers.stop();
    this.closeWatches();
    this.ctx.wss.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    await removeTls(this.tls);
  }
}

function buildContext(opts: FakeApiServerOptions, adminToken: string): Ctx {
  const registry = new ResourceRegistry(builtinResources());
  for (const crd of opts.customResources ?? FERRY_CRDS) registry.add(customResource(crd));
  const history = new EventHistory(opts.watchHistoryLimit ?? 10_000);
  const namespaceType = registry.find('', 'v1', 'namespaces')!;
  const store = new Store({ clock: opts.clock ?? systemClock, history, gracefulPodDeletion: opts.gracefulPodDeletion ?? true, namespaceType });
  const authn = new Authenticator(opts.tokens);
  authn.addToken(adminToken, { username: 'fake-admin', groups: ['system:masters'] });
  return {
    registry, store, history, authn,
    authz: new Authorizer([...(opts.policy ?? [])]),
    admission: new MutatingAdmission(),
    serverAddress: '',
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000,
    openWatches: new Set<ServerResponse>(),
    namespaceType,
    wss: createExecServer(),
  };
}
