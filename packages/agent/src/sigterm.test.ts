import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSource } from './process.fixture.js';
import { FakeCoordinator, job, kubeletVolume, scratch, writeFiles } from './test-hub.fixture.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('ferry-agent as a process', () => {
  it('on SIGTERM interrupts a running job past the grace period, reports it interrupted and exits 0', async () => {
    const s = await scratch();
    cleanups.push(s.cleanup);
    const hub = await FakeCoordinator.start({ certs: s.certs });
    cleanups.push(() => hub.stop());
    const source = await kubeletVolume(s.podsDir, 'pod-t', 'kubernetes.io~empty-dir', 'data');
    for (let i = 0; i < 40; i++) await writeFiles(source, { [`f${i}.bin`]: randomBytes(2 * 1024 * 1024) });
    const agent = runSource('main.ts', [
      '--coordinator', hub.address,
      '--pods-dir', s.podsDir,
      '--cache-dir', s.cacheDir,
      '--tls-ca', s.certs.ca,
      '--tls-cert', s.certs.clientCert,
      '--tls-key', s.certs.clientKey,
      '--listen', '127.0.0.1:0',
      '--shutdown-grace', '200ms',
      '--native-workers', '1',
    ], { NODE_NAME: 'node-a' });
    cleanups.push(async () => agent.child.exitCode === null && agent.child.kill('SIGKILL'));
    await hub.waitFor(() => hub.messages('hello').length > 0, 30_000, 'the child agent to connect');
    hub.assign(job({ id: 'long', kind: 'backup', podUid: 'pod-t', repository: join(s.root, 'repo'), password: 'sigterm-secret' }));
    await hub.waitFor(() => hub.messages('progress').find((p) => p.jobId === 'long' && p.phase === 'JOB_PHASE_RUNNING'), 30_000, 'the job to run');
    agent.child.kill('SIGTERM');
    const exit = await agent.exit;
    expect(exit).toEqual({ code: 0, signal: null });
    const result = hub.results('long');
    expect(result).toHaveLength(1);
    expect(result[0]!.error).toMatchObject({ code: 'ERROR_CODE_INTERRUPTED', retriable: true });
    const logs = agent.stdout();
    expect(logs).toContain('"msg":"interrupting jobs still running after the grace period"');
    expect(logs).toContain('"msg":"agent stopped"');
    expect(logs).not.toContain('sigterm-secret');
  });

  it('refuses a bad configuration with one clear line per bad value and exit code 2', async () => {
    const agent = runSource('main.ts', ['--coordinator', 'no-port', '--max-concurrent-jobs', 'many', '--pods-dir', 'relative/pods']);
    const exit = await agent.exit;
    expect(exit.code).toBe(2);
    const err = agent.stderr();
    expect(err).toContain('--node-name (or FERRY_NODE_NAME / NODE_NAME) is required');
    expect(err).toContain('--coordinator="no-port" is not valid');
    expect(err).toContain('--max-concurrent-jobs="many" is not valid: expected an integer from 1 to 64');
    expect(err).toContain('--pods-dir="relative/pods" is not valid: expected an absolute path');
  });
});
