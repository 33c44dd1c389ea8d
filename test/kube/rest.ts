/**
 * Test support (not product): the few raw REST calls the real-cluster fixture makes that
 * client-node does not expose with the options a test needs, above all server-side apply
 * with fieldValidation=Strict (an unknown or misspelt field in a manifest is an error,
 * as with `kubectl apply --server-side`), resolving kinds to resources by discovery.
 */
import { request, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; [k: string]: unknown };
  readonly [k: string]: unknown;
}

export class KubeRestError extends Error {
  constructor(readonly status: number, readonly body: string, what: string) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 600)}`);
  }
}

interface ApiResource {
  readonly name: string;
  readonly namespaced: boolean;
  readonly kind: string;
}

export class KubeRest {
  private readonly resources = new Map<string, readonly ApiResource[]>();

  constructor(private readonly kc: KubeConfig) {}

  async call(method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: string }> {
    const url = new URL(this.kc.getCurrentCluster()!.server + path);
    const opts: RequestOptions = { method, headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) } };
    await this.kc.applyToHTTPSOptions(opts);
    return new Promise((resolve, reject) => {
      const req = request(url, opts, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Server-side apply with strict field validation; returns the object the server stored. */
  async apply(o: KubeObject, fieldManager = 'ferry-test'): Promise<KubeObject> {
    const path = `${await this.objectPath(o)}?fieldManager=${fieldManager}&force=true&fieldValidation=Strict`;
    const r = await this.call('PATCH', path, JSON.stringify(o), 'application/apply-patch+yaml');
    if (r.status >= 300) throw new KubeRestError(r.status, r.body, `apply ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`);
    return JSON.parse(r.body) as KubeObject;
  }

  /** `/api/v1/namespaces/x/pods/name` for an object, resolved through discovery. */
  async objectPath(o: KubeObject): Promise<string> {
    const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
    const resource = (await this.discover(base)).find((r) => r.kind === o.kind && !r.name.includes('/'));
    if (!resource) throw new Error(`the API server serves no ${o.kind} in ${o.apiVersion} (is its CRD installed?)`);
    const ns = resource.namespaced ? `/namespaces/${o.metadata.namespace ?? 'default'}` : '';
    return `${base}${ns}/${resource.name}/${o.metadata.name}`;
  }

  /** Forgets cached discovery (after CRDs were installed). */
  forget(): void {
    this.resources.clear();
  }

  private async discover(base: string): Promise<readonly ApiResource[]> {
    const cached = this.resources.get(base);
    if (cached) return cached;
    const r = await this.call('GET', base);
    if (r.status === 404) return [];
    if (r.status >= 300) throw new KubeRestError(r.status, r.body, `discovery of ${base}`);
    const list = (JSON.parse(r.body) as { resources: ApiResource[] }).resources;
    this.resources.set(base, list);
    return list;
  }
}
