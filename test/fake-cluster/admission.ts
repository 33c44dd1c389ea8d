/**
 * FAKE Kubernetes API server (test support, never shipped): mutating admission webhooks.
 * On a matching request the fake POSTs an AdmissionReview v1 over TLS (verified with the
 * webhook's caBundle) to the webhook URL, applies the returned base64 JSONPatch, honours
 * failurePolicy (Fail rejects, Ignore admits unchanged) and timeoutSeconds, and records
 * every call for assertions. Validating webhooks and reinvocation are not implemented.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import { ApiError, internalError } from './errors.js';
import { applyJsonPatch, PatchError } from './json-patch.js';
import type { Json } from './json-patch.js';
import { labelSelectorFromObject } from './selectors.js';
import type { LabelSelectorObject } from './selectors.js';
import type { ResourceType } from './resources.js';
import type { UserInfo } from './auth.js';
import type { Obj } from './store.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface WebhookRule {
  operations: (Operation | '*')[];
  resources: string[];
  apiGroups?: string[];
  apiVersions?: string[];
}

export interface MutatingWebhookConfig {
  url: string;
  /** Base64 PEM as in a MutatingWebhookConfiguration (a bare PEM is accepted too). */
  caBundle: string;
  rules: WebhookRule[];
  name?: string;
  namespaceSelector?: LabelSelectorObject;
  objectSelector?: LabelSelectorObject;
  /** Defaults to Fail, like admissionregistration.k8s.io/v1. */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Defaults to 10, like admissionregistration.k8s.io/v1. */
  timeoutSeconds?: number;
}

export interface AdmissionCall {
  webhook: string;
  request: Record<string, unknown>;
  response?: Record<string, unknown>;
  error?: string;
  outcome: 'unchanged' | 'patched' | 'denied' | 'failed-open' | 'failed-closed';
  durationMs: number;
}

export interface AdmissionAttributes {
  operation: Operation;
  rt: ResourceType;
  namespace: string;
  object: Obj;
  oldObject?: Obj;
  user: UserInfo;
  namespaceLabels: Record<string, string>;
}

interface Registered extends MutatingWebhookConfig {
  name: string;
  ca: string;
}

function decodeCa(caBundle: string): string {
  return caBundle.includes('-----BEGIN') ? caBundle : Buffer.from(caBundle, 'base64').toString('utf8');
}

function ruleMatches(rule: WebhookRule, a: AdmissionAttributes): boolean {
  const has = (list: string[] | undefined, v: string) => !list || list.includes('*') || list.includes(v);
  return has(rule.operations, a.operation) && has(rule.apiGroups, a.rt.group) && has(rule.apiVersions, a.rt.version) && has(rule.resources, a.rt.plural);
}

export class MutatingAdmission {
  private readonly hooks: Registered[] = [];
  readonly calls: AdmissionCall[] = [];

  register(cfg: MutatingWebhookConfig): () => void {
    const hook: Registered = { ...cfg, name: cfg.name ?? `webhook-${this.hooks.length + 1}.fake-cluster.local`, ca: decodeCa(cfg.caBundle) };
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** Runs every matching webhook in registration order; returns the admitted object. */
  async admit(a: AdmissionAttributes): Promise<Obj> {
    let object = a.object;
    for (const hook of this.hooks) {
      if (!this.applies(hook, a, object)) continue;
      object = await this.callOne(hook, { ...a, object });
    }
    return object;
  }

  private applies(hook: Registered, a: AdmissionAttributes, object: Obj): boolean {
    if (!hook.rules.some((r) => ruleMatches(r, a))) return false;
    const nsLabels = a.rt.plural === 'namespaces' && !a.rt.group ? (object.metadata.labels ?? {}) : a.namespaceLabels;
    if (a.rt.namespaced || a.rt.plural === 'namespaces') {
      if (!labelSelectorFromObject(hook.namespaceSelector)(nsLabels)) return false;
    }
    return labelSelectorFromObject(hook.objectSelector)(object.metadata.labels ?? {});
  }

  private async callOne(hook: Registered, a: AdmissionAttributes): Promise<Obj> {
    const req = reviewRequest(a);
    const started = Date.now();
    const record = (c: Omit<AdmissionCall, 'webhook' | 'request' | 'durationMs'>) =>
      this.calls.push({ webhook: hook.name, request: req, durationMs: Date.now() - started, ...c });
    let response: Record<string, unknown>;
    try {
      response = await postReview(hook, req);
      checkUid(response, req);
    } catch (err) {
      const message = `failed calling webhook "${hook.name}": ${(err as Error).message}`;
      if (hook.failurePolicy === 'Ignore') {
        record({ error: message, outcome: 'failed-open' });
        return a.object;
      }
      record({ error: message, outcome: 'failed-closed' });
      throw internalError(message);
    }
    return this.applyResponse(hook, a.object, response, record);
  }

  private applyResponse(hook: Registered, object: Obj, response: Record<string, unknown>, record: (c: Omit<AdmissionCall, 'webhook' | 'request' | 'durationMs'>) => void): Obj {
    const r = response as { allowed?: boolean; patch?: string; patchType?: string; status?: { code?: number; message?: string; reason?: string } };
    if (!r.allowed) {
      record({ response, outcome: 'denied' });
      const code = r.status?.code && r.status.code >= 400 ? r.status.code : 400;
      const why = r.status?.message ? `: ${r.status.message}` : ' without explanation';
      throw new ApiError(code, r.status?.reason ?? '', `admission webhook "${hook.name}" denied the request${why}`);
    }
    if (!r.patch) {
      record({ response, outcome: 'unchanged' });
      return object;
    }
    const patched = applyReviewPatch(hook, object, r);
    record({ response, outcome: 'patched' });
    return patched;
  }
}

function applyReviewPatch(hook: Registered, object: Obj, r: { patch?: string; patchType?: string }): Obj {
  if (r.patchType !== 'JSONPatch') throw internalError(`webhook "${hook.name}" returned patchType ${r.patchType ?? '(none)'}; only JSONPatch is supported`);
  try {
    const ops = JSON.parse(Buffer.from(r.patch!, 'base64').toString('utf8')) as unknown;
    return applyJsonPatch(object as unknown as Json, ops) as unknown as Obj;
  } catch (err) {
    const why = err instanceof PatchError || err instanceof SyntaxError ? err.message : String(err);
    throw internalError(`webhook "${hook.name}" returned a patch that cannot be applied: ${why}`);
  }
}

function reviewRequest(a: AdmissionAttributes): Record<string, unknown> {
  const gvk = { group: a.rt.group, version: a.rt.version, kind: a.rt.kind };
  const gvr = { group: a.rt.group, version: a.rt.version, resource: a.rt.plural };
  const optionsKind = a.operation === 'CREATE' ? 'CreateOptions' : a.operation === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions';
  return {
    uid: randomUUID(),
    kind: gvk,
    resource: gvr,
    requestKind: gvk,
    requestResource: gvr,
    ...(a.object.metadata.name ? { name: a.object.metadata.name } : {}),
    ...(a.rt.namespaced ? { namespace: a.namespace } : {}),
    operation: a.operation,
    userInfo: a.user,
    object: a.object,
    oldObject: a.oldObject ?? null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: optionsKind },
  };
}

function checkUid(response: Record<string, unknown>, req: Record<string, unknown>): void {
  if (response.uid !== req.uid) throw new Error(`expected response.uid="${String(req.uid)}", got "${String(response.uid)}"`);
}

/** POSTs the review and returns `response` from the AdmissionReview the webhook sends back. */
function postReview(hook: Registered, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  const timeout = hook.timeoutSeconds ?? 10;
  const url = new URL(hook.url);
  url.searchParams.set('timeout', `${timeout}s`);
  const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req });
  return new Promise((resolve, reject) => {
    const r = request(url, { method: 'POST', ca: hook.ca, headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, signal: AbortSignal.timeout(timeout * 1000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve(parseReview(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    r.on('error', (err) => reject(err.name === 'AbortError' ? new Error(`Post "${hook.url}": context deadline exceeded (timeout ${timeout}s)`) : new Error(`Post "${hook.url}": ${err.message}`)));
    r.end(body);
  });
}

function parseReview(status: number, text: string): Record<string, unknown> {
  if (status < 200 || status > 299) throw new Error(`received invalid webhook response status code ${status}: ${text.slice(0, 200)}`);
  const review = JSON.parse(text) as { kind?: string; apiVersion?: string; response?: Record<string, unknown> };
  if (review.kind !== 'AdmissionReview' || review.apiVersion !== 'admission.k8s.io/v1') {
    throw new Error(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${review.apiVersion}, Kind=${review.kind}`);
  }
  if (!review.response) throw new Error('webhook response was absent');
  return review.response;
}
