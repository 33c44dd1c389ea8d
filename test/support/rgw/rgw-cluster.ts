import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3TestConnection } from '../provided-context.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const START_SCRIPT = path.join(HERE, 'start-rgw.sh');
const STOP_SCRIPT = path.join(HERE, 'stop-rgw.sh');
const REQUIRED_COMMANDS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph', 'curl'];
const INSTALL_HINT =
  'apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common curl';

export interface RgwCluster {
  readonly connection: S3TestConnection;
  readonly baseDir: string;
  readonly startupMs: number;
  /** Kills the daemons by pid and deletes the cluster directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartRgwOptions {
  /** 'memstore' (default, fast, RAM) or 'bluestore' (sparse file on disk). */
  readonly osdStore?: 'memstore' | 'bluestore';
  readonly timeoutMs?: number;
}

/** Starts a throwaway Ceph RGW on free loopback ports; retries once if a port was taken meanwhile. */
export async function startRgwCluster(options: StartRgwOptions = {}): Promise<RgwCluster> {
  assertCephInstalled();
  try {
    return await startOnce(options);
  } catch (first) {
    try {
      return await startOnce(options);
    } catch {
      throw first;
    }
  }
}

async function startOnce(options: StartRgwOptions): Promise<RgwCluster> {
  const started = performance.now();
  const baseDir = await mkdtemp(path.join(tmpdir(), 'ferry-rgw-'));
  const clusterDir = path.join(baseDir, 'cluster');
  const [rgwPort, monV2Port, monV1Port] = await freeLoopbackPorts(3);
  const connection: S3TestConnection = {
    endpoint: `http://127.0.0.1:${rgwPort}`,
    region: 'us-east-1',
    accessKeyId: `FERRYTEST${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
  const stop = stopper(baseDir, clusterDir);
  process.once('exit', stop.sync); // last resort if the runner dies without teardown
  try {
    await runScript(START_SCRIPT, [clusterDir], {
      RGW_PORT: String(rgwPort),
      MON_V2_PORT: String(monV2Port),
      MON_V1_PORT: String(monV1Port),
      OSD_STORE: options.osdStore ?? 'memstore',
      S3_ACCESS_KEY: connection.accessKeyId,
      S3_SECRET_KEY: connection.secretAccessKey,
    }, options.timeoutMs ?? 120_000);
  } catch (err) {
    await stop.async({ keepLogs: true });
    throw new Error(`could not start Ceph RGW for the S3 tests (logs kept in ${clusterDir}/log): ${(err as Error).message}`);
  }
  return {
    connection,
    baseDir,
    startupMs: Math.round(performance.now() - started),
    stop: async () => {
      process.removeListener('exit', stop.sync);
      await stop.async({ keepLogs: false });
    },
  };
}

function stopper(baseDir: string, clusterDir: string) {
  let stopped = false;
  return {
    sync: (): void => {
      if (stopped) return;
      stopped = true;
      spawnSync('bash', [STOP_SCRIPT, clusterDir], { stdio: 'ignore' });
      spawnSync('rm', ['-rf', baseDir], { stdio: 'ignore' });
    },
    async: async ({ keepLogs }: { keepLogs: boolean }): Promise<void> => {
      if (stopped) return;
      stopped = true;
      await runScript(STOP_SCRIPT, [clusterDir], { KEEP: keepLogs ? '1' : '0' }, 30_000);
      if (!keepLogs) await rm(baseDir, { recursive: true, force: true });
    },
  };
}

function assertCephInstalled(): void {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/sbin']);
  const missing = REQUIRED_COMMANDS.filter((cmd) => !dirs.some((dir) => isExecutable(path.join(dir, cmd))));
  if (missing.length > 0) {
    throw new Error(
      `the S3 tests need a local Ceph RADOS Gateway, but ${missing.join(', ')} ` +
        `${missing.length === 1 ? 'is' : 'are'} not installed. Install it with: ${INSTALL_HINT}`,
    );
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Ports the kernel considers free right now; held together so the three differ. */
async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function runScript(script: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(script)} ${signal ? `was killed (${signal})` : `exited with ${code}`}: ${output.trim().slice(-2000)}`));
    });
  });
}
