/**
 * FAKE Kubernetes API server (test support, never shipped): `pods/<name>/exec` over
 * WebSocket with the v5/v4 channel protocol the real client speaks (byte 0 of each binary
 * message: 0 stdin, 1 stdout, 2 stderr, 3 error/status JSON, 4 resize, 255 close-stream).
 * There are no containers: the command runs as a local process in a directory the test
 * supplies through `setExecHandler` (for example the pod's directory from the fake kubelet).
 * Output is streamed chunk by chunk with backpressure on the WebSocket, never buffered whole.
 * TTY mode and the pre-v4 protocols are not implemented.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type { Duplex, Readable } from 'node:stream';
import { ApiError, badRequest } from './errors.js';
import { authenticate, parseRoute } from './http-router.js';
import type { ServerContext } from './http-router.js';
import type { Obj } from './store.js';

export interface ExecRequest {
  namespace: string;
  pod: Obj;
  container: string;
  command: string[];
  stdin: boolean;
  tty: boolean;
}

export interface ExecTarget {
  /** Working directory standing in for the container's filesystem. */
  cwd: string;
  env?: Record<string, string>;
  /** Runs this instead of the requested command (e.g. to map an image's binary). */
  command?: string[];
  /**
   * Simulates a connection lost mid-stream (node gone, API server restart): once this many
   * stdout bytes were sent, the process is killed and the socket closed with no exit status.
   */
  cutStdoutAfterBytes?: number;
}

export type ExecHandler = (r: ExecRequest) => ExecTarget | Promise<ExecTarget>;

/** The slice of the `ws` package used here; `ws` ships no types and @types/ws is not installed. */
export interface WsSocket {
  protocol: string;
  readyState: number;
  send(data: Buffer, opts: { binary: boolean }, cb: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'close', fn: () => void): void;
}

export interface WsServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, cb: (ws: WsSocket) => void): void;
  close(): void;
}

interface WsModule {
  WebSocketServer: new (opts: { noServer: boolean; handleProtocols: (p: Set<string>) => string | false }) => WsServer;
}

const require = createRequire(import.meta.url);
const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const IN_FLIGHT = 8;

export function createExecServer(): WsServer {
  const { WebSocketServer } = require('ws') as WsModule;
  return new WebSocketServer({ noServer: true, handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) ?? false });
}

export function rejectUpgrade(socket: Duplex, err: unknown): void {
  const api = err instanceof ApiError ? err : new ApiError(500, 'InternalError', String((err as Error)?.message ?? err));
  const body = JSON.stringify(api.toStatus());
  socket.end(`HTTP/1.1 ${api.code} ${api.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Validates an exec upgrade the way the API server does before handing it to the "kubelet". */
function execRequest(ctx: ServerContext, req: IncomingMessage): ExecRequest {
  const url = new URL(req.url ?? '/', 'https://fake-cluster.invalid');
  const user = authenticate(ctx, req);
  const r = parseRoute(ctx, url.pathname);
  const route = r && 'resource' in r ? r.resource : undefined;
  if (!route || route.rt.plural !== 'pods' || route.rt.group || route.subresource !== 'exec' || !route.namespace) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  }
  ctx.authz.require(user, { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace: route.namespace, name: route.name });
  const pod = ctx.store.get(route.rt, route.namespace, route.name!);
  const containers = ((pod.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []).map((c) => c.name);
  const container = url.searchParams.get('container') || containers[0] || '';
  if (!containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${route.name}`);
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  if (phase !== 'Running') throw badRequest(`unable to upgrade connection: pod ${route.name} is not running (phase ${phase ?? 'unknown'})`);
  const command = url.searchParams.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least 1 command');
  return { namespace: route.namespace, pod, container, command, stdin: url.searchParams.get('stdin') === 'true', tty: url.searchParams.get('tty') === 'true' };
}

export function handleExecUpgrade(ctx: ServerContext & { execHandler?: ExecHandler; wss: WsServer }, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  void (async () => {
    const er = execRequest(ctx, req);
    if (!ctx.execHandler) throw new ApiError(500, 'InternalError', 'the fake API server has no exec handler: call setExecHandler() first');
    const target = await ctx.execHandler(er);
    ctx.wss.handleUpgrade(req, socket, head, (ws) => runCommand(ws, er, target));
  })().catch((err: unknown) => rejectUpgrade(socket, err));
}

function frame(channel: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([channel]), data]);
}

/** Sends a stream on a channel, pausing it while too many frames wait for the socket; `limit` cuts the connection after that many bytes. */
function pump(stream: Readable, channel: number, ws: WsSocket, limit?: { bytes: number; cut: () => void }): void {
  let inFlight = 0;
  let sent = 0;
  stream.on('data', (chunk: Buffer) => {
    if (ws.readyState !== 1) return;
    if (limit && sent + chunk.length >= limit.bytes) {
      ws.send(frame(channel, chunk.subarray(0, Math.max(0, limit.bytes - sent))), { binary: true }, () => undefined);
      limit.cut();
      return;
    }
    sent += chunk.length;
    inFlight++;
    if (inFlight >= IN_FLIGHT) stream.pause();
    ws.send(frame(channel, chunk), { binary: true }, () => {
      inFlight--;
      if (inFlight < IN_FLIGHT && stream.isPaused()) stream.resume();
    });
  });
}

function exitStatus(command: readonly string[], code: number | null, signal: NodeJS.Signals | null): Record<string, unknown> {
  const exit = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
  if (exit === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exit}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exit) }] },
  };
}

function sendStatus(ws: WsSocket, status: Record<string, unknown>): void {
  if (ws.readyState !== 1) return;
  ws.send(frame(3, Buffer.from(JSON.stringify(status))), { binary: true }, () => ws.close(1000));
}

function wireStdin(ws: WsSocket, child: ChildProcess): void {
  ws.on('message', (data) => {
    const channel = data[0];
    if (channel === 0) child.stdin?.write(data.subarray(1));
    else if (channel === 255 && data[1] === 0) child.stdin?.end();
  });
  child.stdin?.on('error', () => undefined);
}

/** What a command run needs of an exec request (the API server's handler and the fake kubelet's share it). */
export interface CommandRun {
  readonly command: readonly string[];
  readonly stdin: boolean;
}

/** Runs the command as a local process and streams it over `ws` in the channel protocol. */
export function runCommand(ws: WsSocket, er: CommandRun, target: ExecTarget): void {
  const command = target.command ?? er.command;
  const child = spawn(command[0]!, command.slice(1), {
    cwd: target.cwd,
    env: { ...process.env, ...target.env },
    stdio: [er.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const cut = target.cutStdoutAfterBytes === undefined ? undefined : { bytes: target.cutStdoutAfterBytes, cut: () => {
    child.kill('SIGKILL');
    ws.close(1011, 'connection cut by the test');
  } };
  pump(child.stdout!, 1, ws, cut);
  pump(child.stderr!, 2, ws);
  wireStdin(ws, child);
  ws.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let finished = false;
  const finish = (status: Record<string, unknown>) => {
    if (finished) return;
    finished = true;
    sendStatus(ws, status);
  };
  child.on('error', (err) => finish({ metadata: {}, status: 'Failure', reason: 'InternalError', message: `failed to exec in container: ${err.message}` }));
  child.on('close', (code, signal) => finish(exitStatus(command, code, signal)));
}
