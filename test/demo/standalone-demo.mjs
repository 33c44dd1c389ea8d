#!/usr/bin/env node
// Ferry's main job on one machine, no cluster (run with `npm run demo`, which builds
// first): a real coordinator in standalone mode and a real agent, as processes, talking
// gRPC with mutual TLS (certificates made on the fly). Two sample pods with annotated
// volumes are backed up twice (the second run shows deduplication), their data is
// damaged, and a Restore brings it back through restore-wait; every byte is verified.
//
// Repository: a local directory by default; set FERRY_REPOSITORY=s3:https://host[:port]/bucket[/prefix]
// (with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, optional AWS_REGION and FERRY_S3_CA_FILE)
// to use S3. FERRY_DEMO_KEEP=1 keeps the work directory. Exit code 0 only if everything checked out.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCertificates } from './certs.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = {
  coordinator: join(ROOT, 'packages/coordinator/dist/main.js'),
  agent: join(ROOT, 'packages/agent/dist/main.js'),
  restoreWait: join(ROOT, 'packages/agent/dist/restore-wait/main.js'),
  cli: join(ROOT, 'packages/cli/dist/main.js'),
};
const NS = 'shop';
const NODE = 'demo-node';
const SYSTEM_NS = 'ferry-system';
const TTY = process.stdout.isTTY === true;
const bold = (s) => (TTY ? `\x1b[1m${s}\x1b[0m` : s);
const green = (s) => (TTY ? `\x1b[32m${s}\x1b[0m` : s);
const step = (s) => console.log(`\n${bold(`== ${s}`)}`);
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

class DemoError extends Error {}

// ---------------------------------------------------------------- processes

const procs = [];

function startProcess(name, args, logFile) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const proc = { name, child, exited, logFile };
  procs.push(proc);
  return proc;
}

async function stopAll() {
  for (const p of procs.reverse()) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
    await p.exited;
    clearTimeout(timer);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what, probe, { timeoutMs = 120_000, onTick } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const p of procs) if (p.child.exitCode !== null) throw new DemoError(`${p.name} exited (${p.child.exitCode}) while waiting for ${what}; see ${p.logFile}`);
    const value = await probe();
    if (value) return value;
    onTick?.();
    if (Date.now() > deadline) throw new DemoError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---------------------------------------------------------------- state, manifests, data

function readObject(stateDir, kind, namespace, name) {
  const file = join(stateDir, 'objects', kind, namespace || '_cluster', `${name}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function listObjects(stateDir, kind, namespace) {
  const dir = join(stateDir, 'objects', kind, namespace);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
}

/** A YAML stream (JSON is YAML), renamed into place so the coordinator never reads half a file. */
function writeManifest(dir, file, docs) {
  const target = join(dir, `${file}.yaml`);
  writeFileSync(`${target}.tmp`, `${docs.map((d) => JSON.stringify(d, null, 1)).join('\n---\n')}\n`);
  renameSync(`${target}.tmp`, target);
}

function podManifest(name, volumes) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: name }, annotations: { 'backup.ferry.dev/backup-volumes': volumes.join(',') } },
    spec: { containers: [{ name: 'app', image: 'busybox:1.36', volumeMounts: volumes.map((v) => ({ name: v, mountPath: `/${v}` })) }], volumes: volumes.map((v) => ({ name: v, emptyDir: {} })) },
  };
}

function locationManifests(workDir) {
  const repo = process.env.FERRY_REPOSITORY;
  if (!repo) return { docs: [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'demo' }, spec: { default: true, filesystem: { path: join(workDir, 'repository') } } }], where: join(workDir, 'repository') };
  const m = /^s3:(https?:\/\/[^/]+)\/([^/]+)(?:\/(.+))?$/.exec(repo);
  if (!m) throw new DemoError(`FERRY_REPOSITORY=${repo}: expected s3:https://host[:port]/bucket[/prefix] (or leave it unset for a local directory)`);
  const [, endpoint, bucket, prefix] = m;
  if (!process.env.AWS_ACCESS_KEY_ID || !process.env.AWS_SECRET_ACCESS_KEY) throw new DemoError('FERRY_REPOSITORY names S3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY too');
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'demo-s3', namespace: SYSTEM_NS }, stringData: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY, ...(process.env.FERRY_S3_CA_FILE ? { 'ca.crt': readFileSync(process.env.FERRY_S3_CA_FILE, 'utf8') } : {}) } };
  const s3 = { bucket, endpoint, forcePathStyle: true, region: process.env.AWS_REGION ?? 'us-east-1', ...(prefix ? { prefix } : {}), ...(process.env.FERRY_S3_CA_FILE ? { caBundleRef: { name: 'demo-s3', key: 'ca.crt' } } : {}) };
  return { docs: [secret, { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'demo' }, spec: { default: true, s3, credentialsSecretRef: { name: 'demo-s3' } } }], where: repo };
}

/** Deterministic pseudo-random bytes (so the demo's data is the same every run). */
function bytes(seed, size) {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, Math.min(i, size - 4));
  }
  return out;
}

function writeSampleData(dirs) {
  const web = dirs.web.get('uploads');
  mkdirSync(join(web, 'images'), { recursive: true });
  for (let i = 0; i < 300; i++) writeFileSync(join(web, 'images', `img-${String(i).padStart(3, '0')}.bin`), bytes(1000 + i, 4096 + ((i * 7919) % 60000)));
  writeFileSync(join(web, 'index.html'), '<h1>shop</h1>\n');
  const db = dirs.db.get('data');
  mkdirSync(join(db, 'pg'), { recursive: true });
  writeFileSync(join(db, 'pg', 'base.dat'), bytes(7, 24 * 1024 * 1024));
  writeFileSync(join(db, 'pg', 'wal.log'), Buffer.concat([bytes(8, 4 * 1024 * 1024), bytes(7, 4 * 1024 * 1024)]));
}

/** relative path → sha256, for every file under each volume directory. */
function fingerprint(dirs) {
  const out = {};
  for (const [pod, volumes] of Object.entries(dirs)) {
    for (const [volume, dir] of volumes) {
      const walk = (d) => {
        for (const name of readdirSync(d).sort()) {
          const p = join(d, name);
          if (name === '.ferry') continue;
          if (statSync(p).isDirectory()) walk(p);
          else out[`${pod}/${volume}/${relative(dir, p)}`] = createHash('sha256').update(readFileSync(p)).digest('hex');
        }
      };
      walk(dir);
    }
  }
  return out;
}

function volumeDirs(podsDir, pod) {
  const uid = pod.metadata.uid;
  return new Map((pod.spec.volumes ?? []).map((v) => [v.name, join(podsDir, uid, 'volumes', 'kubernetes.io~empty-dir', v.name)]));
}

// ---------------------------------------------------------------- the steps

async function startFerry(work) {
  step('Starting a coordinator (standalone mode) and an agent, with mutual TLS');
  const tlsDir = join(work, 'tls');
  mkdirSync(tlsDir);
  const certs = makeCertificates(tlsDir, [NODE, 'demo-operator']);
  const ports = { hub: await freePort(), api: await freePort(), coordinatorHttp: await freePort(), agentHttp: await freePort() };
  const dirs = { state: join(work, 'state'), manifests: join(work, 'manifests'), pods: join(work, 'pods'), logs: join(work, 'logs') };
  for (const d of [dirs.manifests, dirs.pods, dirs.logs]) mkdirSync(d, { recursive: true });
  startProcess('coordinator', [BIN.coordinator, '--standalone', '--state-dir', dirs.state, '--manifests-dir', dirs.manifests, '--pods-dir', dirs.pods, '--node-name', NODE,
    '--listen', `127.0.0.1:${ports.coordinatorHttp}`, '--hub-listen', `127.0.0.1:${ports.hub}`, '--tls-ca', certs.ca, '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey,
    '--api-listen', `127.0.0.1:${ports.api}`, '--progress-interval', '1s', '--restore-wait-command', `${process.execPath},${BIN.restoreWait}`], join(dirs.logs, 'coordinator.log'));
  const client = certs.client(NODE);
  startProcess('agent', [BIN.agent, '--node-name', NODE, '--coordinator', `localhost:${ports.hub}`, '--pods-dir', dirs.pods, '--tls-ca', certs.ca, '--tls-cert', client.cert, '--tls-key', client.key,
    '--cache-dir', join(work, 'agent-cache'), '--listen', `127.0.0.1:${ports.agentHttp}`, '--heartbeat-interval', '2s'], join(dirs.logs, 'agent.log'));
  await waitFor('the coordinator and the agent to be ready', async () => (await ready(ports.coordinatorHttp)) && (await ready(ports.agentHttp)));
  console.log(`coordinator: AgentHub 127.0.0.1:${ports.hub} (mTLS), API 127.0.0.1:${ports.api} (TLS, client certificates), http://127.0.0.1:${ports.coordinatorHttp}/metrics`);
  console.log(`agent:       node ${NODE}, pods dir ${dirs.pods}, http://127.0.0.1:${ports.agentHttp}/metrics`);
  return { dirs, ports, certs };
}

async function ready(port) {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
  } catch {
    return false;
  }
}

async function createPods(env) {
  writeManifest(env.dirs.manifests, 'pod-web', [podManifest('web', ['uploads'])]);
  writeManifest(env.dirs.manifests, 'pod-db', [podManifest('db', ['data'])]);
  const pods = {};
  for (const name of ['web', 'db']) {
    pods[name] = await waitFor(`pod ${NS}/${name} to run`, () => {
      const p = readObject(env.dirs.state, 'Pod', NS, name);
      return p?.status?.phase === 'Running' ? p : undefined;
    });
  }
  return { web: volumeDirs(env.dirs.pods, pods.web), db: volumeDirs(env.dirs.pods, pods.db) };
}

function progressLine(kind, obj) {
  const p = obj?.status?.progress;
  const done = p?.bytesDone ?? 0;
  const total = p?.totalBytes;
  const pct = total ? ` ${Math.min(100, Math.floor((done / total) * 100))}%` : '';
  return `${kind} ${obj?.metadata?.name}: ${obj?.status?.phase ?? 'New'}${pct} ${mb(done)}${total ? ` of ${mb(total)}` : ''}`;
}

async function follow(env, kind, name) {
  let last = '';
  const obj = await waitFor(`${kind} ${name} to finish`, () => {
    const o = readObject(env.dirs.state, kind, NS, name);
    const line = o ? progressLine(kind, o) : last;
    if (line !== last) {
      if (TTY) process.stdout.write(`\r\x1b[K${line}`);
      else console.log(line);
      last = line;
    }
    return ['Completed', 'PartiallyFailed', 'Failed', 'Canceled'].includes(o?.status?.phase) ? o : undefined;
  }, { timeoutMs: 300_000 });
  if (TTY) process.stdout.write('\n');
  if (obj.status.phase !== 'Completed') throw new DemoError(`${kind} ${name} ended ${obj.status.phase}: ${JSON.stringify(obj.status.error ?? obj.status.conditions ?? {})}`);
  return obj;
}

/** The first backup is a manifest dropped in the folder; the second goes through the CLI and the gRPC API. */
async function backup(env, name, via) {
  if (via === 'cli') {
    await ferryCli(env, ['backup', 'create', name, '-n', NS, '--wait']);
  } else {
    writeManifest(env.dirs.manifests, `backup-${name}`, [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name, namespace: NS }, spec: {} }]);
    await follow(env, 'Backup', name);
  }
  const pvbs = listObjects(env.dirs.state, 'PodVolumeBackup', NS).filter((p) => p.spec.backup === name);
  for (const p of pvbs) {
    const s = p.status.stats ?? {};
    console.log(`  ${p.spec.pod.name}/${p.spec.volume.name}: snapshot ${p.status.snapshotId.slice(0, 12)}, ${mb(p.status.progress?.totalBytes ?? 0)}; files new ${s.filesNew ?? 0}, changed ${s.filesChanged ?? 0}, unmodified (not read again) ${s.filesUnmodified ?? 0}; ${mb(s.bytesAdded ?? 0)} added`);
  }
  return pvbs;
}

/** Bytes in a local repository directory; undefined for S3. */
function repositoryBytes(location) {
  if (process.env.FERRY_REPOSITORY) return undefined;
  let total = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else total += statSync(join(d, e.name)).size;
    }
  };
  walk(location.where);
  return total;
}

/** `ferry <args>` against the coordinator's API as the demo operator (client certificate), output shown as it comes. */
function ferryCli(env, args) {
  const operator = env.certs.client('demo-operator');
  const argv = [BIN.cli, ...args, '--server', `127.0.0.1:${env.ports.api}`, '--ca', env.certs.ca, '--cert', operator.cert, '--key', operator.key];
  console.log(`$ ferry ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new DemoError(`ferry ${args.join(' ')} exited ${code}`))));
  });
}

function showSnapshots(env, where) {
  const secret = readObject(env.dirs.state, 'Secret', SYSTEM_NS, 'ferry-cluster-key');
  if (!secret || process.env.FERRY_REPOSITORY) return;
  const keyFile = join(env.dirs.state, 'cluster-key.demo');
  writeFileSync(keyFile, Buffer.from(secret.data['cluster-key'], 'base64'), { mode: 0o600 });
  const r = spawnSync(process.execPath, [BIN.cli, '-r', join(where, NS), '--cluster-key-file', keyFile, 'snapshots'], { encoding: 'utf8' });
  unlinkSync(keyFile);
  if (r.status !== 0) throw new DemoError(`ferry snapshots failed: ${r.stderr}`);
  console.log(r.stdout.trimEnd().split('\n').map((l) => `  ${l}`).join('\n'));
}

function damage(dirs) {
  const web = dirs.web.get('uploads');
  for (const f of readdirSync(join(web, 'images')).slice(0, 100)) unlinkSync(join(web, 'images', f));
  writeFileSync(join(web, 'index.html'), 'defaced\n');
  writeFileSync(join(dirs.db.get('data'), 'pg', 'base.dat'), bytes(99, 1024));
}

async function restore(env, backupName) {
  // Like a real outage: the pods go away first, a Restore is created, then the pods come back.
  for (const name of ['web', 'db']) unlinkSync(join(env.dirs.manifests, `pod-${name}.yaml`));
  await waitFor('the damaged pods to be deleted', () => !readObject(env.dirs.state, 'Pod', NS, 'web') && !readObject(env.dirs.state, 'Pod', NS, 'db'));
  await ferryCli(env, ['restore', 'create', 'demo-restore', '--from-backup', backupName, '-n', NS]);
  await waitFor('the Restore to wait for pods', () => readObject(env.dirs.state, 'Restore', NS, 'demo-restore')?.status?.phase === 'InProgress');
  console.log('Restore demo-restore is waiting for pods; creating them again');
  const dirs = await (async () => {
    writeManifest(env.dirs.manifests, 'pod-web', [podManifest('web', ['uploads'])]);
    writeManifest(env.dirs.manifests, 'pod-db', [podManifest('db', ['data'])]);
    const pods = {};
    for (const name of ['web', 'db']) {
      pods[name] = await waitFor(`pod ${NS}/${name} to be admitted`, () => readObject(env.dirs.state, 'Pod', NS, name));
      const init = pods[name].spec.initContainers?.[0]?.name;
      if (init !== 'ferry-restore-wait') throw new DemoError(`pod ${name} was not given the restore-wait init container`);
      console.log(`  pod ${name} (uid ${pods[name].metadata.uid.slice(0, 8)}): restore-wait runs as a process and holds the app until its data is back`);
    }
    return { web: volumeDirs(env.dirs.pods, pods.web), db: volumeDirs(env.dirs.pods, pods.db) };
  })();
  await ferryCli(env, ['restore', 'describe', 'demo-restore', '-n', NS]);
  await follow(env, 'Restore', 'demo-restore');
  for (const name of ['web', 'db']) await waitFor(`pod ${name} to run after restore-wait`, () => readObject(env.dirs.state, 'Pod', NS, name)?.status?.phase === 'Running');
  return dirs;
}

function verify(expected, actual) {
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  const bad = [...keys].filter((k) => expected[k] !== actual[k]);
  if (bad.length > 0) throw new DemoError(`restored data differs in ${bad.length} file(s), e.g. ${bad.slice(0, 3).join(', ')}`);
  return keys.size;
}

async function showMetrics(env) {
  for (const [who, port] of [['coordinator', env.ports.coordinatorHttp], ['agent', env.ports.agentHttp]]) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const lines = text.split('\n').filter((l) => /^ferry_(operations_total|volume_bytes_read_total|repository_bytes_uploaded_total|repository_bytes_deduplicated_total|last_success_timestamp_seconds|coordinator_agents_connected|coordinator_operations_finished_total)/.test(l));
    console.log(`${who}: http://127.0.0.1:${port}/metrics`);
    for (const l of lines.slice(0, 8)) console.log(`  ${l}`);
  }
}

async function main() {
  for (const [what, file] of Object.entries(BIN)) if (!existsSync(file)) throw new DemoError(`${what} is not built (${file}); run 'npm run build' first`);
  const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'ferry-demo-'));
  console.log(`work directory: ${work}`);
  try {
    const env = await startFerry(work);
    const location = locationManifests(work);
    writeManifest(env.dirs.manifests, 'location', location.docs);
    step(`Two sample pods in namespace ${NS}, volumes annotated for backup`);
    let dirs = await createPods(env);
    writeSampleData(dirs);
    for (const [pod, vols] of Object.entries(dirs)) for (const [v, d] of vols) console.log(`  ${pod}/${v}: ${d}`);
    step(`Backup "first" into ${location.where} (a Backup manifest in the manifests folder)`);
    await backup(env, 'first', 'manifest');
    const afterFirst = repositoryBytes(location);
    step('A small change, then Backup "second" through the CLI and the gRPC API: unchanged data is not stored again');
    writeFileSync(join(dirs.web.get('uploads'), 'index.html'), '<h1>shop</h1>\n<p>summer sale</p>\n');
    const second = await backup(env, 'second', 'cli');
    const covered = second.reduce((n, p) => n + (p.status.progress?.totalBytes ?? 0), 0);
    if (afterFirst !== undefined) console.log(`  the second snapshots cover ${mb(covered)}; the repository grew by ${((repositoryBytes(location) - afterFirst) / 1e3).toFixed(1)} kB (it held ${mb(afterFirst)} after the first run)`);
    await ferryCli(env, ['backup', 'list', '-n', NS]);
    showSnapshots(env, location.where);
    const expected = fingerprint(dirs);
    step('Damaging the data (files deleted, overwritten)');
    damage(dirs);
    console.log(`  ${Object.keys(expected).length - Object.keys(fingerprint(dirs)).length} files missing, others changed`);
    step('Restoring Backup "second" through restore-wait');
    dirs = await restore(env, 'second');
    const n = verify(expected, fingerprint(dirs));
    console.log(green(`  verified: ${n} files identical to the backup, byte for byte`));
    step('Metrics');
    await showMetrics(env);
    step('Stopping everything the demo started');
    await stopAll();
    console.log(green('demo complete'));
  } finally {
    await stopAll();
    if (process.env.FERRY_DEMO_KEEP === '1') console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    await stopAll();
    console.error(`\ndemo: FAILED: ${err instanceof DemoError ? err.message : err.stack}`);
    process.exit(1);
  },
);
