import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from './api-server.js';
import { generateTls, removeTls } from './certs.js';
import { apiFailure } from './client.fixture.js';
import type { TlsBundle } from './certs.js';

let api: FakeApiServer;
let core: CoreV1Api;
let tls: TlsBundle;
let webhook: Server;
let webhookUrl: string;
let mode: 'patch' | 'deny' | 'hang' = 'patch';

interface Review {
  request: { uid: string; operation: string; namespace: string; object: { spec: { initContainers?: unknown[] } } };
}

/** A tiny real webhook: prepends an init container with a JSON patch that needs ~1 escaping. */
function respond(review: Review): Record<string, unknown> {
  const uid = review.request.uid;
  if (mode === 'deny') return { uid, allowed: false, status: { code: 403, message: 'restore not ready' } };
  const hasInit = Array.isArray(review.request.object.spec.initContainers);
  const init = { name: 'restore-wait', image: 'ferry/restore-wait:test', command: ['restore-wait.js'] };
  const ops = [
    hasInit ? { op: 'add', path: '/spec/initContainers/0', value: init } : { op: 'add', path: '/spec/initContainers', value: [init] },
    { op: 'add', path: '/metadata/annotations', value: { 'restore.ferry.dev/uid': 'r1' } },
    { op: 'add', path: '/metadata/annotations/ferry.dev~1restore', value: 'pending' },
  ];
  return { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

beforeAll(async () => {
  api = await FakeApiServer.start({
    tokens: { 'coordinator-token': { username: 'system:serviceaccount:ferry:coordinator', groups: ['system:serviceaccounts'] }, 'agent-token': { username: 'system:serviceaccount:ferry:agent', audiences: ['ferry'] } },
    policy: [
      { users: ['system:serviceaccount:ferry:coordinator'], verbs: ['create'], apiGroups: ['authentication.k8s.io', 'authorization.k8s.io'], resources: ['tokenreviews', 'subjectaccessreviews'] },
      { users: ['system:serviceaccount:ferry:agent'], verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'], namespaces: ['apps'] },
      { groups: ['ferry:operators'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'] },
    ],
  });
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  tls = await generateTls();
  webhook = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (mode === 'hang') return;
      const review = JSON.parse(Buffer.concat(chunks).toString()) as Review;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: respond(review) }));
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  webhookUrl = `https://127.0.0.1:${(webhook.address() as AddressInfo).port}/mutate`;
  await core.createNamespace({ body: { metadata: { name: 'apps', labels: { 'ferry.dev/restore': 'enabled' } } } });
});
afterAll(async () => {
  webhook.closeAllConnections();
  await new Promise((r) => webhook.close(r));
  await api.stop();
  await removeTls(tls);
});

const podBody = (name: string, init = false) => ({
  metadata: { name },
  spec: { ...(init ? { initContainers: [{ name: 'istio-init', image: 'istio/proxy:1' }] } : {}), containers: [{ name: 'app', image: 'app:1' }] },
});

describe('fake API server: mutating admission over TLS', () => {
  it('applies the webhook JSON patch on pod CREATE, only in namespaces matching the selector', async () => {
    mode = 'patch';
    const unregister = api.registerMutatingWebhook({
      name: 'restore-wait.ferry.dev',
      url: webhookUrl,
      caBundle: Buffer.from(tls.caPem).toString('base64'),
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
      namespaceSelector: { matchLabels: { 'ferry.dev/restore': 'enabled' } },
      failurePolicy: 'Fail',
    });
    const before = api.admissionCalls.length;
    const p = await core.createNamespacedPod({ namespace: 'apps', body: podBody('patched', true) });
    expect(p.spec?.initContainers?.map((c) => c.name)).toEqual(['restore-wait', 'istio-init']);
    expect(p.metadata?.annotations).toEqual({ 'restore.ferry.dev/uid': 'r1', 'ferry.dev/restore': 'pending' });
    const fresh = await core.createNamespacedPod({ namespace: 'apps', body: podBody('no-init') });
    expect(fresh.spec?.initContainers?.map((c) => c.name)).toEqual(['restore-wait']);
    const elsewhere = await core.createNamespacedPod({ namespace: 'default', body: podBody('untouched') });
    expect(elsewhere.spec?.initContainers).toBeUndefined();
    const calls = api.admissionCalls.slice(before);
    expect(calls.map((c) => c.outcome)).toEqual(['patched', 'patched']);
    expect(calls[0]?.request).toMatchObject({ operation: 'CREATE', namespace: 'apps', userInfo: { username: 'fake-admin' } });
    unregister();
  });

  it('failurePolicy Fail rejects with the webhook message; Ignore admits unchanged when the webhook fails', async () => {
    mode = 'deny';
    const base = { url: webhookUrl, caBundle: Buffer.from(tls.caPem).toString('base64'), rules: [{ operations: ['CREATE' as const], resources: ['pods'] }] };
    const failClosed = api.registerMutatingWebhook({ ...base, name: 'strict.ferry.dev', failurePolicy: 'Fail', timeoutSeconds: 1 });
    const denied = await apiFailure(core.createNamespacedPod({ namespace: 'apps', body: podBody('denied') }));
    expect(denied.body).toMatchObject({ code: 403, message: 'admission webhook "strict.ferry.dev" denied the request: restore not ready' });
    mode = 'hang';
    const timedOut = await apiFailure(core.createNamespacedPod({ namespace: 'apps', body: podBody('timeout') }));
    expect(timedOut.body).toMatchObject({ code: 500, reason: 'InternalError' });
    expect(timedOut.body.message).toContain('failed calling webhook "strict.ferry.dev"');
    failClosed();
    const lenient = api.registerMutatingWebhook({ ...base, name: 'lenient.ferry.dev', failurePolicy: 'Ignore', timeoutSeconds: 1 });
    const admitted = await core.createNamespacedPod({ namespace: 'apps', body: podBody('ignored') });
    expect(admitted.spec?.initContainers).toBeUndefined();
    expect(api.admissionCalls.at(-1)).toMatchObject({ webhook: 'lenient.ferry.dev', outcome: 'failed-open' });
    lenient();
    const wrongCa = api.registerMutatingWebhook({ ...base, caBundle: Buffer.from(api.caPem).toString('base64'), failurePolicy: 'Fail' });
    mode = 'patch';
    await expect(core.createNamespacedPod({ namespace: 'apps', body: podBody('bad-ca') })).rejects.toMatchObject({ code: 500 });
    wrongCa();
  }, 30_000);
});

describe('fake API server: authentication and authorization', () => {
  it('rejects unknown tokens with 401 and enforces the policy table on API requests', async () => {
    await expect(api.kubeConfig('wrong').makeApiClient(CoreV1Api).listNamespace()).rejects.toMatchObject({ code: 401 });
    const agent = api.kubeConfig('agent-token').makeApiClient(CoreV1Api);
    await expect(agent.listNamespacedPod({ namespace: 'apps' })).resolves.toBeDefined();
    const forbidden = await apiFailure(agent.listNamespacedPod({ namespace: 'default' }));
    expect(forbidden.body).toMatchObject({ code: 403, reason: 'Forbidden', message: 'pods is forbidden: User "system:serviceaccount:ferry:agent" cannot list resource "pods" in API group "" in the namespace "default"' });
  });

  it('answers TokenReview and SubjectAccessReview from the same tables', async () => {
    const kc = api.kubeConfig('coordinator-token');
    const authn = kc.makeApiClient(AuthenticationV1Api);
    const ok = await authn.createTokenReview({ body: { spec: { token: 'agent-token', audiences: ['ferry'] } } });
    expect(ok.status).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:ferry:agent' } });
    const wrongAudience = await authn.createTokenReview({ body: { spec: { token: 'agent-token', audiences: ['other'] } } });
    expect(wrongAudience.status?.authenticated).toBe(false);
    const bogus = await authn.createTokenReview({ body: { spec: { token: 'nope' } } });
    expect(bogus.status?.authenticated).toBe(false);
    const authz = kc.makeApiClient(AuthorizationV1Api);
    const sar = (user: string, groups: string[], verb: string, namespace: string, resource = 'pods', group = '') =>
      authz.createSubjectAccessReview({ body: { spec: { user, groups, resourceAttributes: { verb, group, resource, namespace } } } }).then((r) => r.status?.allowed);
    expect(await sar('system:serviceaccount:ferry:agent', [], 'watch', 'apps')).toBe(true);
    expect(await sar('system:serviceaccount:ferry:agent', [], 'delete', 'apps')).toBe(false);
    expect(await sar('system:serviceaccount:ferry:agent', [], 'list', 'default')).toBe(false);
    expect(await sar('alice', ['ferry:operators'], 'create', 'x', 'backups', 'ferry.dev')).toBe(true);
    expect(await sar('alice', ['system:masters'], 'delete', 'x', 'secrets')).toBe(true);
    const agentAuthz = api.kubeConfig('agent-token').makeApiClient(AuthorizationV1Api);
    await expect(agentAuthz.createSubjectAccessReview({ body: { spec: { user: 'x', resourceAttributes: { verb: 'get' } } } })).rejects.toMatchObject({ code: 403 });
  });
});
