import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, Exec } from '@kubernetes/client-node';
import type { V1Status } from '@kubernetes/client-node';
import { FakeApiServer } from './api-server.js';
import { apiFailure } from './client.fixture.js';

let api: FakeApiServer;
let core: CoreV1Api;
let podDir: string;

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  podDir = await mkdtemp(join(tmpdir(), 'fake-exec-'));
  await writeFile(join(podDir, 'marker.txt'), 'inside the pod dir\n');
  api.setExecHandler((r) => ({ cwd: podDir, env: { POD_NAME: r.pod.metadata.name! } }));
  await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'db' }, spec: { containers: [{ name: 'postgres', image: 'postgres:16' }] } } });
  await core.patchNamespacedPodStatus({ namespace: 'default', name: 'db', body: [{ op: 'replace', path: '/status/phase', value: 'Running' }] });
});
afterAll(async () => {
  await api.stop();
  await rm(podDir, { recursive: true, force: true });
});

interface Result {
  stdout: Buffer;
  stderr: string;
  status: V1Status;
}

/** Runs a command through client-node's Exec; hashes stdout as it streams. */
function run(command: string[], stdin?: Buffer): Promise<Result & { sha: string }> {
  const hash = createHash('sha256');
  const out: Buffer[] = [];
  let err = '';
  const stdout = new Writable({ write: (c: Buffer, _e, cb) => { hash.update(c); if (out.length < 4) out.push(c); cb(); } });
  const stderr = new Writable({ write: (c: Buffer, _e, cb) => { err += c.toString(); cb(); } });
  const input = stdin ? new PassThrough() : null;
  return new Promise((resolve, reject) => {
    new Exec(api.kubeConfig())
      .exec('default', 'db', 'postgres', command, stdout, stderr, input, false, (status) => resolve({ stdout: Buffer.concat(out), stderr: err, status, sha: hash.digest('hex') }))
      .then(() => input?.end(stdin))
      .catch(reject);
  });
}

describe('fake API server: pods/exec over WebSocket (v5 channel protocol)', () => {
  it('runs the command in the handler-supplied directory with stdout, stderr and a Success status', async () => {
    const r = await run(['sh', '-c', 'cat marker.txt; echo "pod=$POD_NAME" >&2']);
    expect(r.stdout.toString()).toBe('inside the pod dir\n');
    expect(r.stderr).toBe('pod=db\n');
    expect(r.status.status).toBe('Success');
  });

  it('streams several MB of stdout intact and reports non-zero exit codes', async () => {
    const size = 8 * 1024 * 1024;
    const script = `const b=Buffer.alloc(65536);let n=0;const w=()=>{while(n<${size}){for(let i=0;i<b.length;i++)b[i]=(n+i)%251;n+=b.length;if(!process.stdout.write(b))return process.stdout.once('drain',w)}};w()`;
    const r = await run(['node', '-e', script]);
    const expected = createHash('sha256');
    const b = Buffer.alloc(65536);
    for (let n = 0; n < size; n += b.length) {
      for (let i = 0; i < b.length; i++) b[i] = (n + i) % 251;
      expected.update(b);
    }
    expect(r.sha).toBe(expected.digest('hex'));
    const failed = await run(['sh', '-c', 'exit 3']);
    expect(failed.status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  it('passes stdin and closes it with the v5 close-stream frame', async () => {
    const r = await run(['sh', '-c', 'wc -c'], Buffer.alloc(300_000, 7));
    expect(r.stdout.toString().trim()).toBe('300000');
  });

  it('refuses exec into a pod that is not running, with a Status body', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'pending' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } });
    await expect(new Exec(api.kubeConfig()).exec('default', 'pending', 'c', ['true'], null, null, null, false)).rejects.toBeDefined();
    const plain = await apiFailure(core.connectGetNamespacedPodExec({ namespace: 'default', name: 'db', command: 'true' }));
    expect(plain.code).toBe(400);
  });
});
