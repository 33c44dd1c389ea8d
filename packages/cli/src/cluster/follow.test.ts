/**
 * followOperation over real gRPC: a small in-process server speaks the real Backups
 * service definition (WatchBackup and GetBackup, scripted per test) so stream breaks,
 * reconnects and Ctrl-C can be provoked at exact points, which a real coordinator cannot do
 * on cue. The same server checks what `ferry --insecure` sends (it has no TLS).
 */
import { PassThrough } from 'node:stream';
import { credentials, loadPackageDefinition, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '@ferry/blobstore';
import { API_PROTO_FILE, PROTO_LOADER_OPTIONS, type ApiProtoGrpcType, type Backup, type Backup__Output, type BackupsClient } from '@ferry/api';
import { CliError, ExitCode } from '../exit-codes.js';
import { runCli } from '../program.js';
import type { CliIO } from '../io.js';
import { apiError } from './api-errors.js';
import { backupView } from './backups.js';
import { exitCodeForPhase, followOperation, progressLine, ProgressDisplay, RateWindow } from './follow.js';

const proto = loadPackageDefinition(loadSync(API_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as ApiProtoGrpcType;

type Watch = (call: ServerWritableStream<unknown, Backup>, attempt: number) => void;
type Unary = (call: ServerUnaryCall<{ namespace: string; name: string }, Backup>, cb: sendUnaryData<Backup>) => void;

let server: Server | undefined;
let client: BackupsClient | undefined;

afterEach(async () => {
  client?.close();
  await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
  server = undefined;
});

let port = 0;

async function start(watch: Watch, getBackup?: Unary): Promise<BackupsClient> {
  let attempt = 0;
  server = new Server();
  const unimplemented = (_call: unknown, cb: (err: { code: number }) => void): void => cb({ code: status.UNIMPLEMENTED });
  server.addService(proto.ferry.v1.Backups.service, {
    watchBackup: (call: ServerWritableStream<unknown, Backup>) => watch(call, attempt++),
    getBackup: getBackup ?? unimplemented,
    createBackup: unimplemented, listBackups: unimplemented, cancelBackup: unimplemented, deleteBackup: unimplemented,
  });
  port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  client = new proto.ferry.v1.Backups(`127.0.0.1:${port}`, credentials.createInsecure());
  return client;
}

function backupAt(phase: string, bytesDone: number, volumesDone = 0): Backup {
  return { namespace: 'shop', name: 'b1', phase, progress: { bytesDone, bytesTotal: 4096, volumesTotal: 2, volumesDone } };
}

function captureIO(tty = false): { io: CliIO; err: () => string } {
  const chunks: string[] = [];
  const stderr = Object.assign(new PassThrough(), { isTTY: tty, columns: 120 });
  stderr.on('data', (b: Buffer) => chunks.push(b.toString()));
  return { io: { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }, err: () => chunks.join('') };
}

function follow(c: BackupsClient, o: { io: CliIO; clock: VirtualClock; signal?: AbortSignal; maxReconnects?: number }): Promise<Backup__Output> {
  return followOperation<Backup__Output>({
    what: 'backup shop/b1',
    open: () => c.watchBackup({ namespace: 'shop', name: 'b1' }),
    view: backupView,
    display: new ProgressDisplay({ io: o.io, mode: 'plain', clock: o.clock, plainIntervalMs: 5000 }),
    fail: (err) => apiError(err, { server: 'test', auth: 'none' }),
    clock: o.clock,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.maxReconnects !== undefined ? { maxReconnects: o.maxReconnects } : {}),
  });
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('followOperation', () => {
  it('prints a plain line per phase or volume change and resolves on the terminal phase', async () => {
    const c = await start(async (call) => {
      for (const b of [backupAt('New', 0), backupAt('InProgress', 1024), backupAt('InProgress', 2048), backupAt('InProgress', 3072, 1), backupAt('Completed', 4096, 2)]) {
        call.write(b);
        await tick();
      }
      call.end();
    });
    const { io, err } = captureIO();
    const done = await follow(c, { io, clock: new VirtualClock() });
    expect(done.phase).toBe('Completed');
    const lines = err().trim().split('\n');
    // 2048 bytes arrive without a phase or volume change within the interval: no line for it.
    expect(lines).toEqual([
      'backup shop/b1: New  0/2 volumes  0 B/4.00 KiB (0%)',
      'backup shop/b1: InProgress  0/2 volumes  1.00 KiB/4.00 KiB (25%)',
      'backup shop/b1: InProgress  1/2 volumes  3.00 KiB/4.00 KiB (75%)',
      'backup shop/b1: Completed  2/2 volumes  4.00 KiB/4.00 KiB (100%)',
    ]);
  });

  it('opens the stream again after it breaks and after it ends early', async () => {
    const c = await start(async (call, attempt) => {
      if (attempt === 0) {
        call.write(backupAt('InProgress', 1024));
        await tick();
        call.emit('error', { code: status.UNAVAILABLE, details: 'leader changed' });
        return;
      }
      if (attempt === 1) {
        call.write(backupAt('InProgress', 2048));
        call.end(); // ends before a terminal phase
        return;
      }
      call.write(backupAt('Failed', 2048));
      call.end();
    });
    const { io } = captureIO();
    const done = await follow(c, { io, clock: new VirtualClock() });
    expect(done.phase).toBe('Failed');
    expect(exitCodeForPhase(done.phase)).toBe(ExitCode.error);
  });

  it('gives up after maxReconnects with the UNAVAILABLE message', async () => {
    const c = await start((call) => call.emit('error', { code: status.UNAVAILABLE, details: 'down' }));
    const { io } = captureIO();
    const err = await follow(c, { io, clock: new VirtualClock(), maxReconnects: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toBe('cannot reach coordinator at test: down (is --server right?)');
    expect((err as CliError).exitCode).toBe(ExitCode.unavailable);
  });

  it('does not retry NOT_FOUND', async () => {
    let attempts = 0;
    const c = await start((call) => {
      attempts++;
      call.emit('error', { code: status.NOT_FOUND, details: 'backup shop/b1 not found' });
    });
    const { io } = captureIO();
    const err = await follow(c, { io, clock: new VirtualClock() }).catch((e: unknown) => e);
    expect((err as CliError).exitCode).toBe(ExitCode.notFound);
    expect(attempts).toBe(1);
  });

  it('Ctrl-C stops watching with exit 130 and says the backup goes on', async () => {
    const c = await start((call) => call.write(backupAt('InProgress', 1024)));
    const { io } = captureIO();
    const controller = new AbortController();
    const pending = follow(c, { io, clock: new VirtualClock(), signal: controller.signal }).catch((e: unknown) => e);
    await tick();
    controller.abort();
    const err = (await pending) as CliError;
    expect(err.exitCode).toBe(ExitCode.interrupted);
    expect(err.message).toBe('stopped watching; backup shop/b1 goes on in the cluster');
  });
});

describe('progress display', () => {
  it('computes the rate over a sliding window and an ETA from it', () => {
    const w = new RateWindow(10_000);
    w.add(0, 0);
    expect(w.rate()).toBeUndefined();
    w.add(2000, 2 * 1024 * 1024);
    expect(w.rate()).toBe(1024 * 1024);
    const view = { kind: 'backup' as const, namespace: 'shop', name: 'b1', phase: 'InProgress', progress: { bytesDone: 2 * 1024 * 1024, bytesTotal: 12 * 1024 * 1024, filesDone: 0, filesTotal: 0, volumesTotal: 4, volumesDone: 1, volumesFailed: 1 } };
    expect(progressLine(view, w.rate())).toBe('InProgress  1/4 volumes (1 failed)  2.00 MiB/12.0 MiB (16%)  1.00 MiB/s  ETA 0:10');
  });

  it('draws one bar line on a TTY and clears it on close', () => {
    const { io, err } = captureIO(true);
    const clock = new VirtualClock();
    const display = new ProgressDisplay({ io, mode: 'tty', clock });
    display.update(backupView({ ...backupAt('InProgress', 2048), progress: { bytesDone: 2048, bytesTotal: 4096, filesDone: 0, filesTotal: 0, volumesTotal: 2, volumesDone: 1, volumesFailed: 0 } } as Backup__Output));
    display.close();
    expect(err()).toBe('\r\x1b[K[##########..........] backup shop/b1: InProgress  1/2 volumes  2.00 KiB/4.00 KiB (50%)\r\x1b[K');
  });
});

describe('ferry over --insecure (in process)', () => {
  it('sends the token as bearer metadata, warns that it travels unencrypted, and prints the status line', async () => {
    const seen: unknown[] = [];
    await start(
      (call) => call.end(),
      (call, cb) => {
        seen.push(call.metadata.get('authorization')[0], call.request);
        cb(null, backupAt('InProgress', 1024, 1));
      },
    );
    const { io, err } = captureIO();
    const out: string[] = [];
    io.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    const code = await runCli({ args: ['backup', 'status', 'b1', '-n', 'shop', '--server', `127.0.0.1:${port}`, '--insecure'], io: { ...io, env: { FERRY_TOKEN: 'sekrit-token' } } });
    expect(code).toBe(0);
    expect(seen).toEqual(['Bearer sekrit-token', { namespace: 'shop', name: 'b1' }]);
    expect(out.join('')).toBe('InProgress  1/2 volumes  1.00 KiB/4.00 KiB (25%)\n');
    expect(err()).toBe(`ferry: warning: --insecure: talking to 127.0.0.1:${port} without TLS; the bearer token travels unencrypted; use it only for local development\n`);
  });

  it('refuses --insecure with TLS files and a lone --cert, before connecting', async () => {
    const { io, err } = captureIO();
    expect(await runCli({ args: ['backup', 'list', '--server', '127.0.0.1:1', '--insecure', '--ca', 'ca.pem'], io })).toBe(1);
    expect(await runCli({ args: ['backup', 'list', '--server', '127.0.0.1:1', '--cert', 'c.pem'], io })).toBe(1);
    expect(await runCli({ args: ['backup', 'list', '--server', 'no-port'], io })).toBe(1);
    expect(err()).toBe(
      'ferry: --insecure is plaintext: it cannot be combined with --ca, --cert or --key\n' +
        'ferry: --cert and --key go together: give both for a client certificate, or neither\n' +
        'ferry: --server "no-port" is not host:port (e.g. ferry.example.com:8443 or 127.0.0.1:8443)\n',
    );
  });
});
