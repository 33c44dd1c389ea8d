import { describe, expect, it } from 'vitest';
import { ConfigError, helpText, parseCommand, type CoordinatorConfig } from './config.js';

function config(argv: string[], env: Record<string, string> = {}): CoordinatorConfig {
  const c = parseCommand(argv, env);
  if (c.kind !== 'run') throw new Error('expected a run command');
  return c.config;
}

describe('coordinator configuration: --agent-identity', () => {
  it('defaults to node-certificate', () => {
    expect(config([]).agentIdentity).toEqual({ mode: 'node-certificate' });
  });

  it('reads shared-certificate from FERRY_AGENT_IDENTITY with the default or a configured shared name; a flag wins', () => {
    expect(config([], { FERRY_AGENT_IDENTITY: 'shared-certificate' }).agentIdentity).toEqual({ mode: 'shared-certificate', sharedName: 'ferry-agent' });
    expect(config(['--agent-certificate-name', 'agents.example'], { FERRY_AGENT_IDENTITY: 'shared-certificate' }).agentIdentity).toEqual({ mode: 'shared-certificate', sharedName: 'agents.example' });
    expect(config(['--agent-identity', 'node-certificate'], { FERRY_AGENT_IDENTITY: 'shared-certificate' }).agentIdentity).toEqual({ mode: 'node-certificate' });
  });

  it('reports a bad mode and a bad name together, and lists both in --help', () => {
    const err = (() => {
      try {
        config(['--agent-identity', 'any'], { FERRY_AGENT_CERTIFICATE_NAME: 'a b' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      expect.stringMatching(/--agent-identity "any": expected node-certificate or shared-certificate/),
      expect.stringMatching(/--agent-certificate-name "a b"/),
    ]);
    expect(helpText()).toMatch(/--agent-identity <value> {2}\(FERRY_AGENT_IDENTITY, default node-certificate\)/);
  });
});

describe('coordinator configuration: helper pods', () => {
  const problems = (argv: string[], env: Record<string, string> = {}): readonly string[] => {
    try {
      config(argv, env);
      return [];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.problems;
    }
  };

  it('defaults to 10m CPU, 32Mi memory, no tolerations, 5 minutes to provision and the restore-wait image', () => {
    expect(config(['--restore-wait-image', 'agent:1']).controllers.helperPods).toEqual({ image: 'agent:1', requests: { cpu: '10m', memory: '32Mi' }, tolerations: [], provisioningTimeoutMs: 300_000 });
  });

  it('takes requests, an image, a timeout and kubectl-style tolerations from flags or the environment', () => {
    const c = config(['--helper-pod-cpu-request', '0.25', '--helper-pod-image', 'helper:2', '--helper-pod-tolerations', 'storage=ssd:NoSchedule, dedicated:NoExecute,gpu'], { FERRY_HELPER_POD_MEMORY_REQUEST: '1Gi', FERRY_HELPER_POD_PROVISIONING_TIMEOUT: '20m' });
    expect(c.controllers.helperPods).toEqual({
      image: 'helper:2',
      requests: { cpu: '0.25', memory: '1Gi' },
      tolerations: [
        { key: 'storage', operator: 'Equal', value: 'ssd', effect: 'NoSchedule' },
        { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' },
        { key: 'gpu', operator: 'Exists' },
      ],
      provisioningTimeoutMs: 1_200_000,
    });
  });

  it('takes tolerations as a JSON list as in a pod spec', () => {
    const json = JSON.stringify([{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }, { operator: 'Exists' }]);
    expect(config(['--helper-pod-tolerations', json]).controllers.helperPods.tolerations).toEqual(JSON.parse(json));
  });

  it('refuses bad quantities, tolerations and timeouts at start, naming each flag', () => {
    expect(problems(['--helper-pod-cpu-request', '10 m', '--helper-pod-memory-request', '0Mi', '--helper-pod-tolerations', 'a=b:Sometimes', '--helper-pod-provisioning-timeout', 'soon'])).toEqual([
      expect.stringMatching(/^--helper-pod-cpu-request "10 m": expected a Kubernetes quantity such as 10m/),
      '--helper-pod-memory-request "0Mi": must be more than zero',
      '--helper-pod-tolerations "a=b:Sometimes": toleration 1: effect "Sometimes": expected NoSchedule, PreferNoSchedule, NoExecute',
      expect.stringMatching(/^--helper-pod-provisioning-timeout "soon": expected a positive duration such as 30s/),
    ]);
    expect(problems(['--helper-pod-tolerations', '[{"key":"a","operator":"Maybe"}]'])).toEqual([expect.stringMatching(/toleration 1: operator "Maybe": expected Exists or Equal/)]);
    expect(problems(['--helper-pod-tolerations', '[{"key":"a","tolerationSeconds":5}]'])).toEqual([expect.stringMatching(/tolerationSeconds .* needs effect NoExecute/)]);
    expect(problems(['--helper-pod-tolerations', '[{"key":"a","effects":"NoSchedule"}]'])).toEqual([expect.stringMatching(/unknown field "effects"/)]);
    expect(problems(['--helper-pod-tolerations', '[{"key":'])).toEqual([expect.stringMatching(/^--helper-pod-tolerations "\[\{\\"key\\":": not valid JSON/)]);
    expect(problems(['--helper-pod-tolerations', '=x'])).toEqual([expect.stringMatching(/"=x" is not key\[=value\]\[:Effect\]/)]);
    expect(problems(['--helper-pod-tolerations', 'a:NoSchedule=b'])).toHaveLength(1);
  });

  it('lists the helper pod flags in --help', () => {
    expect(helpText()).toMatch(/--helper-pod-cpu-request <value> {2}\(FERRY_HELPER_POD_CPU_REQUEST, default 10m\)/);
    expect(helpText()).toMatch(/--helper-pod-tolerations <value> {2}\(FERRY_HELPER_POD_TOLERATIONS, default \)/);
  });
});
