import { describe, expect, it } from 'vitest';
import { ConfigError, parseCommand } from './config.js';

function config(argv: string[], env: Record<string, string> = {}) {
  const c = parseCommand({ argv, env });
  if (c.kind !== 'run') throw new Error(`expected run, got ${c.kind}`);
  return c.config;
}

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    parseCommand({ argv, env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('agent configuration', () => {
  it('takes the node name from the downward-API env and fills defaults', () => {
    const c = config(['--coordinator', 'ferry.svc:7443'], { NODE_NAME: 'worker-1' });
    expect(c).toMatchObject({
      nodeName: 'worker-1',
      podsDir: '/var/lib/kubelet/pods',
      insecure: false,
      tls: { caFile: '/etc/ferry/tls/ca.crt', certFile: '/etc/ferry/tls/tls.crt', keyFile: '/etc/ferry/tls/tls.key' },
      maxConcurrentJobs: 2,
      listenHost: '0.0.0.0',
      listenPort: 8080,
      cacheDir: '/var/cache/ferry',
      shutdownGraceMs: 20_000,
      logLevel: 'info',
    });
  });

  it('lets a flag win over its variable and a variable over the default', () => {
    const env = { FERRY_NODE_NAME: 'from-env', FERRY_COORDINATOR: 'a:1', FERRY_PODS_DIR: '/var/vcap/data/kubelet/pods', FERRY_MAX_CONCURRENT_JOBS: '4', FERRY_INSECURE: 'true' };
    const c = config(['--node-name', 'from-flag', '--listen', ':9464', '--shutdown-grace', '1m30s'], env);
    expect(c).toMatchObject({ nodeName: 'from-flag', coordinator: 'a:1', podsDir: '/var/vcap/data/kubelet/pods', maxConcurrentJobs: 4, insecure: true, listenPort: 9464, shutdownGraceMs: 90_000 });
  });

  it('reports every bad value at once, each with what is expected', () => {
    const found = problems(['--coordinator', 'x', '--listen', 'nowhere', '--cache-dir', 'rel', '--log-level', 'loud', '--heartbeat-interval', '0s'], { FERRY_INSECURE: 'maybe' });
    expect(found).toEqual([
      '--node-name (or FERRY_NODE_NAME / NODE_NAME) is required: Node this agent runs on (downward API: spec.nodeName). Required.',
      '--coordinator="x" is not valid: expected host:port, e.g. ferry-coordinator.ferry-system.svc:7443',
      '--cache-dir="rel" is not valid: expected an absolute path',
      'FERRY_INSECURE="maybe" is not valid: expected true or false',
      '--listen="nowhere" is not valid: expected host:port or :port with a port from 0 to 65535',
      '--heartbeat-interval="0s" is not valid: expected a positive duration such as 10s',
      '--log-level="loud" is not valid: expected debug, info, warn or error',
    ]);
    expect(problems(['--frobnicate'])[0]).toContain("Unknown option '--frobnicate'");
  });
});
