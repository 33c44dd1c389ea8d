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
