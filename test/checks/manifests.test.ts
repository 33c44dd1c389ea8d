import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import * as api from '@ferry/api';
import { AgentMetrics, parseCommand as parseAgentCommand, CONFIG_OPTIONS as AGENT_OPTIONS } from '@ferry/agent';
import { OPTIONS as COORDINATOR_OPTIONS, parseCommand as parseCoordinatorCommand } from '@ferry/coordinator';
import { CoordinatorMetrics } from '../../packages/coordinator/src/metrics.js';
import { diffFiles, renderFiles } from './crds.mjs';
import {
  DEPLOY,
  ROOT,
  containerProblems,
  containersOf,
  describeObject,
  ferryCrds,
  find,
  imageProblems,
  isObject,
  kustomizationFile,
  mergePatch,
  namespaceProblems,
  parseYamlFile,
  podLabelsOf,
  podSpecOf,
  portOf,
  rbacProblems,
  render,
  unreferencedFiles,
  validateObject,
  type Json,
  type JsonObject,
  type Manifest,
} from './manifests.js';

const run = promisify(execFile);
const NS = 'ferry-system';
const crds = ferryCrds();
const MONITORING = join(DEPLOY, 'monitoring');
const OVERLAYS = ['cert-manager', 'self-signed'] as const;
const rendered = Object.fromEntries(OVERLAYS.map((o) => [o, render(join(DEPLOY, 'overlays', o), { extraComponents: [MONITORING] })])) as Record<(typeof OVERLAYS)[number], ReturnType<typeof render>>;
const base = render(join(DEPLOY, 'base'));

const obj = (objects: readonly Manifest[], kind: string, name: string): JsonObject => {
  const o = find(objects, kind, name);
  if (!o) throw new Error(`${kind} ${name} is missing`);
  return o;
};
const at = (o: Json | undefined, ...path: (string | number)[]): Json | undefined => {
  let cur: Json | undefined = o;
  for (const p of path) cur = Array.isArray(cur) && typeof p === 'number' ? cur[p] : isObject(cur) && typeof p === 'string' ? cur[p] : undefined;
  return cur;
};
const configData = (objects: readonly Manifest[], name: string): Record<string, string> => at(obj(objects, 'ConfigMap', name), 'data') as Record<string, string>;

describe('deploy/crds', () => {
  it('equals the CRDs generated from packages/api/src/crd (test/checks/crds.mjs)', () => {
    expect(diffFiles(renderFiles(api))).toEqual([]);
  });

  it('is listed completely by deploy/crds/kustomization.yml', () => {
    const generated = renderFiles(api).map((f) => f.path).filter((p) => p.startsWith('deploy/crds/')).map((p) => p.slice('deploy/crds/'.length)).sort();
    const [k] = parseYamlFile(kustomizationFile(join(DEPLOY, 'crds'))!) as [JsonObject];
    expect([...(k['resources'] as string[])].sort()).toEqual(generated);
  });
});

function deployYamlFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.ya?ml$/.test(e.name)) files.push(join(dir, e.name));
    }
  };
  walk(DEPLOY);
  return files;
}

/** Every document of a YAML text as the given YAML version reads it. */
function readAs(text: string, version: '1.1' | '1.2'): unknown[] {
  return parseAllDocuments(text, { version }).map((d) => d.toJS());
}

describe('every manifest parses and matches its schema', () => {
  it('every YAML file under deploy/ parses', () => {
    const files = deployYamlFiles();
    expect(files.length).toBeGreaterThan(15);
    for (const f of files) expect(() => parseYamlFile(f), f).not.toThrow();
  });

  // kubectl reads YAML 1.1 (0440 is octal 288); kustomize's kyaml and this renderer read 1.2
  // (0440 is decimal 440, a mode of 0670). The real API server showed the difference.
  it('every YAML file reads the same as YAML 1.1 (kubectl) and YAML 1.2 (kustomize, Argo CD)', () => {
    for (const f of deployYamlFiles()) {
      const text = readFileSync(f, 'utf8');
      expect(readAs(text, '1.2'), f).toEqual(readAs(text, '1.1'));
    }
  });

  it('the version check can fail: an octal-looking mode reads differently', () => {
    const text = 'defaultMode: 0440\n';
    expect(readAs(text, '1.2')).not.toEqual(readAs(text, '1.1'));
  });

  it.each(OVERLAYS)('overlay %s (with the monitoring component): every object is valid, unknown fields rejected', (overlay) => {
    const objects = rendered[overlay].objects;
    expect(objects.length).toBeGreaterThan(25);
    expect(objects.flatMap((m) => validateObject(m.object, crds))).toEqual([]);
  });

  it('the examples are valid', () => {
    const objects = parseYamlFile(join(DEPLOY, 'examples', 'backuplocation-s3.yaml')) as JsonObject[];
    expect(objects.map((o) => o['kind'])).toEqual(['Secret', 'BackupLocation']);
    expect(objects.flatMap((o) => validateObject(o, crds))).toEqual([]);
  });

  it('every file under deploy/ is reached by a kustomization (examples excepted)', () => {
    const reached = new Set([...base.files, ...Object.values(rendered).flatMap((r) => [...r.files])]);
    expect(unreferencedFiles(reached)).toEqual([]);
  });

  it('a kustomization naming a missing file is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-kustomize-'));
    try {
      writeFileSync(join(dir, 'kustomization.yaml'), 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [missing.yaml]\n');
      expect(() => render(dir)).toThrow(/names missing\.yaml, which does not exist/);
      writeFileSync(join(dir, 'kustomization.yaml'), 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: x-\n');
      expect(() => render(dir)).toThrow(/kustomization\.namePrefix: unknown field/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the schema check can fail', () => {
  const deployment = obj(base.objects, 'Deployment', 'ferry-coordinator');

  it('rejects an unknown field at any depth, naming its path', () => {
    const bad = mergePatch(deployment, { spec: { template: { spec: { containers: [{ name: 'coordinator', livenessProbe: { httpGet: { paht: '/healthz' } } }] } } } }) as JsonObject;
    expect(validateObject(bad, crds)).toEqual([expect.stringMatching(/Deployment.spec.template.spec.containers\[0\].livenessProbe.httpGet.paht: unknown field/)]);
  });

  it('rejects wrong types (an unquoted quantity, a string replica count)', () => {
    const bad = mergePatch(deployment, { spec: { replicas: '2', template: { spec: { containers: [{ name: 'coordinator', resources: { limits: { memory: 1 } } }] } } } }) as JsonObject;
    const problems = validateObject(bad, crds);
    expect(problems).toContainEqual(expect.stringMatching(/spec.replicas: expected an integer, found string "2"/));
    expect(problems).toContainEqual(expect.stringMatching(/limits.memory: expected a string, found number 1 \(quote it\)/));
  });

  it('rejects a Ferry object that does not match its CRD and a third-party object that does not match its schema', () => {
    const [, location] = parseYamlFile(join(DEPLOY, 'examples', 'backuplocation-s3.yaml')) as JsonObject[];
    expect(validateObject(mergePatch(location!, { spec: { s3: { bukket: 'x' } } }) as JsonObject, crds)).toContainEqual(expect.stringMatching(/BackupLocation.spec.s3.bukket: unknown field/));
    expect(validateObject(mergePatch(location!, { spec: { filesystem: { path: '/backups' } } }) as JsonObject, crds)).toContainEqual(expect.stringMatching(/exactly one of s3, filesystem/));
    const cert = obj(rendered['cert-manager'].objects, 'Certificate', 'ferry-agent-tls');
    expect(validateObject(mergePatch(cert, { spec: { usages: ['client-auth'] } }) as JsonObject, crds)).toContainEqual(expect.stringMatching(/usages\[0\]: "client-auth" is not one of/));
    expect(validateObject({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' } }, crds)).toEqual([expect.stringMatching(/no schema for example.com\/v1 Thing/)]);
  });

  it('rejects a built-in kind under the wrong apiVersion', () => {
    expect(validateObject({ ...deployment, apiVersion: 'extensions/v1beta1' }, crds)).toContainEqual(expect.stringMatching(/apiVersion extensions\/v1beta1, expected apps\/v1/));
  });
});

describe.each(OVERLAYS)('rules, overlay %s', (overlay) => {
  const objects = rendered[overlay].objects;

  it('every image is pinned by tag or digest', () => {
    expect(containersOf(obj(objects, 'DaemonSet', 'ferry-agent'))[0]?.['image']).toBe('ghcr.io/ferry-backup/ferry-agent:0.1.0');
    expect(imageProblems(objects)).toEqual([]);
  });

  it('every container has requests, a memory limit and a locked-down securityContext', () => {
    expect(containerProblems(objects)).toEqual([]);
  });

  it('RBAC grants no wildcards, no escalation verbs and no cluster-wide Secrets', () => {
    expect(rbacProblems(objects)).toEqual([]);
  });

  it('namespaced objects live in ferry-system; cluster-scoped ones name none', () => {
    expect(namespaceProblems(objects, crds, NS)).toEqual([]);
  });

  it('every Secret, ConfigMap and ServiceAccount a pod uses is created by this overlay', () => {
    const secrets = new Set([
      ...objects.filter((m) => m.object['kind'] === 'Secret').map((m) => String(at(m.object, 'metadata', 'name'))),
      ...objects.filter((m) => m.object['kind'] === 'Certificate').map((m) => String(at(m.object, 'spec', 'secretName'))),
      // The self-signed Job creates exactly the Secrets its Role lets it read.
      ...((at(find(objects, 'Role', 'ferry-certgen'), 'rules', 0, 'resourceNames') as string[] | undefined) ?? []),
    ]);
    const problems: string[] = [];
    for (const m of objects) {
      const spec = podSpecOf(m.object);
      if (!spec) continue;
      const sa = String(spec['serviceAccountName'] ?? 'default');
      if (!find(objects, 'ServiceAccount', sa)) problems.push(`${describeObject(m.object)}: ServiceAccount ${sa}`);
      for (const v of (spec['volumes'] as JsonObject[] | undefined) ?? []) {
        const secret = at(v, 'secret', 'secretName');
        if (typeof secret === 'string' && !secrets.has(secret)) problems.push(`${describeObject(m.object)}: Secret ${secret}`);
        const cm = at(v, 'configMap', 'name');
        if (typeof cm === 'string' && !find(objects, 'ConfigMap', cm)) problems.push(`${describeObject(m.object)}: ConfigMap ${cm}`);
      }
      for (const c of containersOf(m.object)) {
        for (const e of (c['envFrom'] as JsonObject[] | undefined) ?? []) {
          const cm = at(e, 'configMapRef', 'name');
          if (typeof cm === 'string' && !find(objects, 'ConfigMap', cm)) problems.push(`${describeObject(m.object)}: ConfigMap ${cm}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('Services and NetworkPolicies select pods and name ports those pods have', () => {
    const workloads = objects.filter((m) => podSpecOf(m.object));
    // ferry.dev/leader=true is set at run time by the leading coordinator on its own pod (coordinator.ts), never in a template.
    const runtimeLabel = (w: Manifest, k: string) => k === 'ferry.dev/leader' && podLabelsOf(w.object)['app.kubernetes.io/name'] === 'ferry-coordinator';
    const podsMatching = (selector: JsonObject) => workloads.filter((w) => Object.entries(selector).every(([k, v]) => podLabelsOf(w.object)[k] === v || runtimeLabel(w, k)));
    const portNames = (ws: Manifest[]) => new Set(ws.flatMap((w) => containersOf(w.object).flatMap((c) => ((c['ports'] as JsonObject[] | undefined) ?? []).map((p) => p['name']))));
    const problems: string[] = [];
    for (const m of objects) {
      if (m.object['kind'] === 'Service') {
        const pods = podsMatching(at(m.object, 'spec', 'selector') as JsonObject);
        if (pods.length === 0) problems.push(`${describeObject(m.object)} selects no pods`);
        for (const p of at(m.object, 'spec', 'ports') as JsonObject[]) if (!portNames(pods).has(p['targetPort'] as string)) problems.push(`${describeObject(m.object)}: targetPort ${String(p['targetPort'])}`);
      }
      if (m.object['kind'] === 'NetworkPolicy') {
        const selector = (at(m.object, 'spec', 'podSelector', 'matchLabels') as JsonObject | undefined) ?? {};
        const pods = podsMatching(selector);
        if (pods.length === 0) problems.push(`${describeObject(m.object)} selects no pods`);
        for (const rule of (at(m.object, 'spec', 'ingress') as JsonObject[] | undefined) ?? []) {
          for (const p of (rule['ports'] as JsonObject[]) ?? []) if (!portNames(pods).has(p['port'] as string)) problems.push(`${describeObject(m.object)}: port ${String(p['port'])}`);
          for (const from of (rule['from'] as JsonObject[]) ?? []) {
            const sel = at(from, 'podSelector', 'matchLabels') as JsonObject | undefined;
            if (sel && !from['namespaceSelector'] && podsMatching(sel).length === 0) problems.push(`${describeObject(m.object)}: source selects no Ferry pods`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('the manifests match the programs', () => {
  const objects = base.objects;
  const coordinatorEnv: Record<string, string> = { ...configData(objects, 'ferry-coordinator-config'), FERRY_NAMESPACE: NS };
  const agentEnv: Record<string, string> = { ...configData(objects, 'ferry-agent-config'), NODE_NAME: 'node-a' };
  const containerPort = (kind: string, name: string, port: string): number =>
    Number(at(((containersOf(obj(objects, kind, name))[0]?.['ports'] as JsonObject[]) ?? []).find((p) => p['name'] === port), 'containerPort'));

  it('every variable in the ConfigMaps is one the program reads, and the programs accept the values', () => {
    const coordinatorVars = new Set<string>(Object.values(COORDINATOR_OPTIONS).map((o) => o.env));
    const agentVars = new Set<string>(Object.values(AGENT_OPTIONS).flatMap((o) => o.env));
    expect(Object.keys(configData(objects, 'ferry-coordinator-config')).filter((k) => !coordinatorVars.has(k))).toEqual([]);
    expect(Object.keys(configData(objects, 'ferry-agent-config')).filter((k) => !agentVars.has(k))).toEqual([]);
    expect(parseCoordinatorCommand([], coordinatorEnv).kind).toBe('run');
    expect(parseAgentCommand({ argv: [], env: agentEnv }).kind).toBe('run');
  });

  it('the coordinator listens where its container ports, probes, Service and webhook point', () => {
    const parsed = parseCoordinatorCommand([], coordinatorEnv);
    if (parsed.kind !== 'run') throw new Error('expected a configuration');
    const c = parsed.config;
    expect(containerPort('Deployment', 'ferry-coordinator', 'metrics')).toBe(c.listen.port);
    expect(containerPort('Deployment', 'ferry-coordinator', 'grpc')).toBe(portOf(c.hubAddress));
    expect(containerPort('Deployment', 'ferry-coordinator', 'webhook')).toBe(c.webhook?.port);
    expect(c.leaderElection.enabled).toBe(true);
    expect(at(obj(objects, 'Deployment', 'ferry-coordinator'), 'spec', 'replicas')).toBe(2);
    // Paths the Secrets are mounted at.
    const mounts = (containersOf(obj(objects, 'Deployment', 'ferry-coordinator'))[0]?.['volumeMounts'] as JsonObject[]).map((m) => String(m['mountPath']));
    for (const file of [c.hubTls.caFile, c.hubTls.certFile, c.hubTls.keyFile, c.webhook?.certFile, c.webhook?.keyFile]) expect(mounts.some((m) => file?.startsWith(`${m}/`)), file).toBe(true);
  });

  it('the Lease the Role allows is the one the coordinator uses', () => {
    const parsed = parseCoordinatorCommand([], coordinatorEnv);
    if (parsed.kind !== 'run') throw new Error('expected a configuration');
    const rules = at(obj(objects, 'Role', 'ferry-coordinator'), 'rules') as JsonObject[];
    const leaseRule = rules.find((r) => (r['resources'] as string[]).includes('leases') && r['resourceNames']);
    expect(leaseRule?.['resourceNames']).toEqual([parsed.config.leaderElection.leaseName]);
  });

  it('the agent dials the Service on its gRPC port, by a name in the coordinator certificate', () => {
    const parsed = parseAgentCommand({ argv: [], env: agentEnv });
    if (parsed.kind !== 'run') throw new Error('expected a configuration');
    const service = obj(objects, 'Service', 'ferry-coordinator');
    const grpc = (at(service, 'spec', 'ports') as JsonObject[]).find((p) => p['name'] === 'grpc');
    expect(agentEnv['FERRY_COORDINATOR']).toBe(`ferry-coordinator.${NS}.svc:${String(grpc?.['port'])}`);
    expect(at(obj(rendered['cert-manager'].objects, 'Certificate', 'ferry-coordinator-tls'), 'spec', 'dnsNames')).toContain(`ferry-coordinator.${NS}.svc`);
    expect(containerPort('DaemonSet', 'ferry-agent', 'metrics')).toBe(portOf(agentEnv['FERRY_LISTEN']!));
  });

  it('restore-wait is injected with the agent image of this release', () => {
    expect(coordinatorEnv['FERRY_RESTORE_WAIT_IMAGE']).toBe(containersOf(obj(objects, 'DaemonSet', 'ferry-agent'))[0]?.['image']);
  });

  it('the agent has no Kubernetes API rights and reads the kubelet pods dir with HostToContainer propagation', () => {
    const ds = obj(objects, 'DaemonSet', 'ferry-agent');
    const spec = podSpecOf(ds)!;
    expect(spec['automountServiceAccountToken']).toBe(false);
    const bound = objects.filter((m) => /RoleBinding$/.test(String(m.object['kind'])) && (m.object['subjects'] as JsonObject[]).some((s) => s['name'] === spec['serviceAccountName']));
    expect(bound.map((m) => describeObject(m.object))).toEqual([]);
    const agent = containersOf(ds)[0]!;
    const podsMount = (agent['volumeMounts'] as JsonObject[]).find((m) => m['mountPath'] === agentEnv['FERRY_PODS_DIR']);
    expect(podsMount?.['mountPropagation']).toBe('HostToContainer');
    expect(at(agent, 'securityContext', 'capabilities', 'add')).toEqual(['CHOWN', 'FOWNER', 'DAC_OVERRIDE', 'DAC_READ_SEARCH']);
    expect(spec['tolerations']).toEqual([{ operator: 'Exists' }]);
    expect(find(objects, 'PriorityClass', String(spec['priorityClassName']))).toBeDefined();
    expect(at(agent, 'env')).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  });

  it('the webhook never blocks pod creation and never sees Ferry or the control plane', () => {
    const hook = at(obj(objects, 'MutatingWebhookConfiguration', 'ferry-coordinator'), 'webhooks', 0) as JsonObject;
    expect(hook['failurePolicy']).toBe('Ignore');
    expect(hook['sideEffects']).toBe('None');
    expect(Number(hook['timeoutSeconds'])).toBeLessThanOrEqual(10);
    expect(at(hook, 'namespaceSelector', 'matchExpressions')).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system'] }]);
    const service = obj(objects, 'Service', String(at(hook, 'clientConfig', 'service', 'name')));
    expect(at(hook, 'clientConfig', 'service', 'namespace')).toBe(at(service, 'metadata', 'namespace'));
    const port = (at(service, 'spec', 'ports') as JsonObject[]).find((p) => p['port'] === at(hook, 'clientConfig', 'service', 'port'));
    expect(port?.['targetPort']).toBe('webhook');
    expect(at(obj(rendered['cert-manager'].objects, 'MutatingWebhookConfiguration', 'ferry-coordinator'), 'metadata', 'annotations', 'cert-manager.io/inject-ca-from')).toBe(`${NS}/ferry-webhook-tls`);
  });

  it('the Restore webhook fails closed, sees only Restore creates and updates, and is served by the same Service', () => {
    const hooks = at(obj(objects, 'MutatingWebhookConfiguration', 'ferry-coordinator'), 'webhooks') as JsonObject[];
    expect(hooks.map((h) => h['name'])).toEqual(['restore-wait.ferry.dev', 'restores.ferry.dev']);
    const hook = hooks[1]!;
    expect(hook['failurePolicy']).toBe('Fail');
    expect(hook['sideEffects']).toBe('None');
    expect(at(hook, 'rules')).toEqual([{ apiGroups: ['ferry.dev'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['restores'], scope: 'Namespaced' }]);
    expect(at(hook, 'clientConfig', 'service')).toMatchObject({ name: at(hooks[0]!, 'clientConfig', 'service', 'name'), port: at(hooks[0]!, 'clientConfig', 'service', 'port') });
    expect((at(hook, 'matchConditions') as JsonObject[]).length).toBe(1);
  });
});

describe('the rule checks can fail', () => {
  const ds = obj(base.objects, 'DaemonSet', 'ferry-agent');
  const wrap = (o: JsonObject): Manifest[] => [{ file: 'test', object: o }];

  it('an unpinned image, a missing limit or a loose securityContext is reported', () => {
    const bad = mergePatch(ds, { spec: { template: { spec: { containers: [{ name: 'agent', image: 'ghcr.io/ferry-backup/ferry-agent', resources: { limits: null }, securityContext: { readOnlyRootFilesystem: false } }] } } } }) as JsonObject;
    expect(imageProblems(wrap(bad))).toEqual([expect.stringMatching(/is not pinned/)]);
    expect(containerProblems(wrap(bad))).toEqual([expect.stringMatching(/limits needs memory/), expect.stringMatching(/readOnlyRootFilesystem must be true/)]);
    expect(imageProblems(wrap(mergePatch(ds, { spec: { template: { spec: { containers: [{ name: 'agent', image: 'x/y:latest' }] } } } }) as JsonObject))).toHaveLength(1);
  });

  it('wildcards and cluster-wide Secrets in RBAC are reported', () => {
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }, { apiGroups: ['ferry.dev'], resources: ['*'], verbs: ['get', 'escalate'] }] };
    expect(rbacProblems(wrap(role))).toEqual([expect.stringMatching(/rule 1: Secrets must be granted by a Role/), expect.stringMatching(/rule 2: resources contains a wildcard/), expect.stringMatching(/rule 2: verb escalate/)]);
  });
});

describe('the self-signed certificate Job', () => {
  const work = mkdtempSync(join(tmpdir(), 'ferry-certgen-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const objects = rendered['self-signed'].objects;
  const script = configData(objects, 'ferry-certgen')['certgen.sh']!;
  const allowed = at(obj(objects, 'Role', 'ferry-certgen'), 'rules', 0, 'resourceNames') as string[];
  const webhook = (at(obj(objects, 'ClusterRole', 'ferry-certgen'), 'rules', 0, 'resourceNames') as string[])[0]!;

  async function runScript(): Promise<string> {
    const bin = join(work, 'bin');
    const scriptFile = join(work, 'certgen.sh');
    writeFileSync(scriptFile, script);
    if (!existsSync(bin)) {
      mkdirSync(bin);
      symlinkSync(join(ROOT, 'test', 'checks', 'manifests.fake-kubectl.mjs'), join(bin, 'kubectl'));
    }
    const { stdout } = await run('sh', [scriptFile], {
      env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, NAMESPACE: NS, HOME: work, FAKE_KUBE_STATE: work, FAKE_KUBE_SECRET_NAMES: allowed.join(','), FAKE_KUBE_WEBHOOK: webhook },
      cwd: work,
    });
    return stdout;
  }
  const secret = (name: string): Record<string, Buffer> => {
    const s = JSON.parse(readFileSync(join(work, `secret-${NS}-${name}.json`), 'utf8')) as { data: Record<string, string> };
    return Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  };

  it('creates a CA and the three certificates within its RBAC, sets the caBundle, and keeps them on a second run', async () => {
    const first = await runScript();
    expect(first).toMatch(/created the CA/);
    const ca = new X509Certificate(secret('ferry-ca')['tls.crt']!);
    expect(ca.ca).toBe(true);
    const hub = new X509Certificate(secret('ferry-coordinator-tls')['tls.crt']!);
    expect(hub.verify(ca.publicKey)).toBe(true);
    expect(hub.checkHost(`ferry-coordinator.${NS}.svc`)).toBe(`ferry-coordinator.${NS}.svc`);
    expect(hub.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(new X509Certificate(secret('ferry-webhook-tls')['tls.crt']!).checkHost(`ferry-coordinator.${NS}.svc`)).toBeTruthy();
    const agent = new X509Certificate(secret('ferry-agent-tls')['tls.crt']!);
    expect(agent.subject).toBe('CN=ferry-agent');
    expect(agent.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    expect(secret('ferry-agent-tls')['ca.crt']!.equals(secret('ferry-ca')['tls.crt']!)).toBe(true);
    const patch = JSON.parse(readFileSync(join(work, 'webhook-patch.json'), 'utf8')) as { path: string; value: string }[];
    expect(patch.map((p) => p.path)).toEqual(['/webhooks/0/clientConfig/caBundle', '/webhooks/1/clientConfig/caBundle']);
    for (const p of patch) expect(Buffer.from(p.value, 'base64').equals(secret('ferry-ca')['tls.crt']!)).toBe(true);

    const before = secret('ferry-coordinator-tls')['tls.crt']!;
    const second = await runScript();
    expect(second).toMatch(/using the CA in Secret/);
    expect(second).toMatch(/ferry-coordinator-tls exists; kept/);
    expect(secret('ferry-coordinator-tls')['tls.crt']!.equals(before)).toBe(true);
  });

  it('the certificates carry a mutual-TLS connection from an agent to the coordinator', async () => {
    const hub = secret('ferry-coordinator-tls');
    const agent = secret('ferry-agent-tls');
    const server = createServer({ cert: hub['tls.crt'], key: hub['tls.key'], ca: hub['ca.crt'], requestCert: true, rejectUnauthorized: true }, (socket) => {
      socket.end(`${socket.authorized ? 'authorized' : 'refused'} ${String(socket.getPeerCertificate().subject?.CN)}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: `ferry-coordinator.${NS}.svc`, ca: agent['ca.crt'], cert: agent['tls.crt'], key: agent['tls.key'] });
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(reply).toBe('authorized ferry-agent');
    } finally {
      server.close();
    }
  });
});

describe('deploy/monitoring/grafana-dashboard.json and docs/metrics.md', () => {
  async function registered(): Promise<Map<string, string>> {
    const agent = new AgentMetrics({ nodeName: 'n', version: 'test', defaultMetrics: false });
    const coordinator = new CoordinatorMetrics({ defaultMetrics: false });
    const out = new Map<string, string>();
    for (const r of [agent.registry, coordinator.registry]) for (const m of await r.getMetricsAsJSON()) out.set(m.name, String(m.type));
    return out;
  }
  /** The series names a PromQL expression may use for each registered metric. */
  function seriesNames(metrics: Map<string, string>): Set<string> {
    const out = new Set<string>();
    for (const [name, type] of metrics) {
      out.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    }
    return out;
  }
  function queries(node: unknown, out: string[] = []): string[] {
    if (Array.isArray(node)) node.forEach((n) => queries(n, out));
    else if (isObject(node)) {
      for (const [k, v] of Object.entries(node)) {
        if ((k === 'expr' || k === 'definition') && typeof v === 'string') out.push(v);
        else if (k === 'query' && typeof v === 'string') out.push(v);
        else queries(v, out);
      }
    }
    return out;
  }
  const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as JsonObject;

  it('queries only metrics the agent and coordinator register', async () => {
    const names = seriesNames(await registered());
    const used = [...new Set(queries(dashboard).flatMap((q) => q.match(/\bferry_[a-z0-9_]+/g) ?? []))];
    expect(used.length).toBeGreaterThan(20);
    expect(used.filter((n) => !names.has(n))).toEqual([]);
  });

  it('covers throughput, deduplication, results, durations, last success and repository health', () => {
    const text = queries(dashboard).join('\n');
    for (const metric of ['ferry_volume_bytes_read_total', 'ferry_repository_bytes_deduplicated_total', 'ferry_operations_total', 'ferry_operation_duration_seconds_bucket', 'ferry_last_success_timestamp_seconds', 'ferry_store_request_duration_seconds_bucket', 'ferry_store_request_retries_total', 'ferry_repository_last_check_timestamp_seconds', 'ferry_repository_check_success', 'ferry_repository_size_bytes', 'ferry_repository_snapshots']) {
      expect(text).toContain(metric);
    }
  });

  it('the check notices a metric that does not exist', async () => {
    const names = seriesNames(await registered());
    expect(names.has('ferry_operations_total')).toBe(true);
    expect(names.has('ferry_operation_total')).toBe(false);
    expect(names.has('ferry_operation_duration_seconds_bucket')).toBe(true);
    expect(names.has('ferry_operations_total_bucket')).toBe(false);
  });

  const ruleFile = parseYamlFile(join(MONITORING, 'prometheusrule.yaml')) as JsonObject[];
  const groups = at(ruleFile[0], 'spec', 'groups') as JsonObject[];
  const alerts = groups.flatMap((g) => (g['rules'] as JsonObject[]).map((r) => ({ alert: String(r['alert']), expr: String(r['expr']) })));

  /** Runs Debian's promtool (package prometheus) on a Prometheus rule file made of these groups. */
  async function promtool(ruleGroups: readonly Json[]): Promise<{ ok: boolean; output: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-rules-'));
    try {
      const file = join(dir, 'rules.json');
      writeFileSync(file, JSON.stringify({ groups: ruleGroups }));
      const r = await run('promtool', ['check', 'rules', file]).then((o) => ({ ok: true, output: o.stdout + o.stderr }), (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }));
      return r;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('deploy/monitoring/prometheusrule.yaml passes promtool check rules', async () => {
    const r = await promtool(groups);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.ok).toBe(true);
  });

  it('promtool refuses a broken expression (the check can fail)', async () => {
    const r = await promtool([{ name: 'broken', rules: [{ alert: 'X', expr: 'sum by (namespace (ferry_operations_total)' }] }]);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/parse error|FAILED/);
  });

  it('the alerts use only registered metrics and include every alert of docs/metrics.md, the backup-missed one on the coordinator series', async () => {
    const names = seriesNames(await registered());
    const used = [...new Set(alerts.flatMap((a) => a.expr.match(/\bferry_[a-z0-9_]+/g) ?? []))];
    expect(used.filter((n) => !names.has(n))).toEqual([]);
    const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const documented = [...doc.matchAll(/^- `(Ferry[A-Za-z]+)`/gm)].map((m) => m[1]!);
    expect(documented.sort()).toEqual(alerts.map((a) => a.alert).sort());
    expect(alerts.find((a) => a.alert === 'FerryBackupMissed')?.expr).toContain('ferry_backup_last_success_timestamp_seconds');
  });

  it('docs/metrics.md documents every registered metric and no other', async () => {
    const metrics = await registered();
    const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `(ferry_[a-z0-9_]+)`/gm)].map((m) => m[1]!));
    expect([...metrics.keys()].filter((n) => !documented.has(n))).toEqual([]);
    expect([...documented].filter((n) => !metrics.has(n))).toEqual([]);
  });
});
