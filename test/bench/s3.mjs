// The "s3" medium: data on tmpfs, every repository in a bucket of a Ceph RGW. Uses
// BENCH_S3_ENDPOINT (+ AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) when given, else starts a
// throwaway RGW with test/support/rgw/start-rgw.sh and stops it at the end.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RGW = fileURLToPath(new URL('../support/rgw/', import.meta.url));

function run(script, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(RGW, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => (err += b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited ${code}: ${err.trim().slice(-300)}`))));
  });
}

async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => resolve(s)); })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function startRgw() {
  const base = await mkdtemp(join(tmpdir(), 'ferry-bench-rgw-'));
  const [rgw, v2, v1] = await freePorts(3);
  const keys = { AWS_ACCESS_KEY_ID: `BENCH${randomBytes(6).toString('hex').toUpperCase()}`, AWS_SECRET_ACCESS_KEY: randomBytes(30).toString('base64url') };
  const dir = join(base, 'cluster');
  await run('start-rgw.sh', [dir], {
    RGW_PORT: String(rgw), MON_V2_PORT: String(v2), MON_V1_PORT: String(v1),
    S3_ACCESS_KEY: keys.AWS_ACCESS_KEY_ID, S3_SECRET_KEY: keys.AWS_SECRET_ACCESS_KEY,
    OSD_STORE: 'memstore', STORE_BYTES: process.env.BENCH_S3_STORE_BYTES ?? String(6 * 1024 ** 3),
  });
  const stop = async () => { await run('stop-rgw.sh', [dir], {}).catch(() => undefined); await rm(base, { recursive: true, force: true }); };
  return { endpoint: `http://127.0.0.1:${rgw}`, keys, stop };
}

/** Opens the S3 medium; repositories are prefixes of one bucket, measured and removed by listing. */
export async function openS3Medium() {
  // Its Node 22 notice is not about the benchmark; loaded here so that runs without s3 skip it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } = await import('@aws-sdk/client-s3');
  const given = process.env.BENCH_S3_ENDPOINT;
  const server = given ? { endpoint: given, keys: {}, stop: async () => undefined } : await startRgw();
  // The tools are child processes: they read the credentials from the environment.
  Object.assign(process.env, server.keys);
  const client = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true });
  const bucket = `ferry-bench-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  async function* objects(prefix) {
    for (let token; ;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      yield* page.Contents ?? [];
      if (!page.IsTruncated) return;
      token = page.NextContinuationToken;
    }
  }
  return {
    description: `${server.endpoint}/${bucket}`,
    url: (name) => `s3:${server.endpoint}/${bucket}/${name}`,
    async size(name) {
      let total = 0;
      for await (const o of objects(name)) total += o.Size ?? 0;
      return total;
    },
    async remove(name) {
      let batch = [];
      const flush = async () => {
        if (batch.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch } }));
        batch = [];
      };
      for await (const o of objects(name)) {
        batch.push({ Key: o.Key });
        if (batch.length === 1000) await flush();
      }
      await flush();
    },
    async close() {
      client.destroy();
      await server.stop();
    },
  };
}
