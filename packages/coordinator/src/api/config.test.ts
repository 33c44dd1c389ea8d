import { describe, expect, it } from 'vitest';
import { parseCommand, type CoordinatorConfig } from '../config.js';

function config(argv: string[], env: Record<string, string> = {}): CoordinatorConfig {
  const c = parseCommand(argv, env);
  if (c.kind !== 'run') throw new Error('expected a run command');
  return c.config;
}

describe('coordinator configuration: the public API server', () => {
  it("listens on 0.0.0.0:9444 with the hub's certificate, key and CA by default", () => {
    expect(config([]).api).toEqual({ host: '0.0.0.0', port: 9444, tls: { certFile: '/etc/ferry/tls/tls.crt', keyFile: '/etc/ferry/tls/tls.key', clientCaFile: '/etc/ferry/tls/ca.crt' } });
    expect(config(['--tls-ca', '/x/ca.pem']).api?.tls?.clientCaFile).toBe('/x/ca.pem');
  });

  it('takes its own files and address from flags or variables; off disables it; --insecure drops TLS', () => {
    expect(config(['--api-listen', '127.0.0.1:7000', '--api-tls-cert', '/a.crt'], { FERRY_API_TLS_KEY: '/a.key', FERRY_API_CLIENT_CA: '/clients.crt' }).api).toEqual({
      host: '127.0.0.1',
      port: 7000,
      tls: { certFile: '/a.crt', keyFile: '/a.key', clientCaFile: '/clients.crt' },
    });
    expect(config(['--api-listen', 'off']).api).toBeUndefined();
    expect(config([], { FERRY_API_LISTEN: 'off' }).api).toBeUndefined();
    expect(config(['--insecure']).api).toEqual({ host: '0.0.0.0', port: 9444 });
  });

  it('reports a malformed address', () => {
    expect(() => config(['--api-listen', 'nine'])).toThrow(/--api-listen "nine": expected host:port/);
  });
});
