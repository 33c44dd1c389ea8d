/**
 * pods/exec over client-node's WebSocket Exec. The exit code comes from the v1.Status on
 * the error channel; a stream that closes without one (connection cut, pod gone) is -1,
 * so a truncated command output is never mistaken for a success. client-node writes
 * stdout without looking at back-pressure, so the socket is paused while the consumer is
 * full: a 2 GiB dump flows through in bounded memory.
 */
import { Writable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import type { ExecOptions, ExecResult } from './cluster-state.js';

export function execInPod(kubeConfig: KubeConfig, o: ExecOptions): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve) => {
    let settled = false;
    const finish = (r: ExecResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    let socket: { pause(): void; resume(): void } | undefined;
    const gate = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (!o.stdout.write(chunk)) {
          socket?.pause();
          o.stdout.once('drain', () => socket?.resume());
        }
        callback();
      },
    });
    new Exec(kubeConfig)
      .exec(o.namespace, o.pod, o.container, [...o.command], gate, o.stderr ?? null, null, false, (status) => finish(exitOf(status)))
      .then((ws) => {
        socket = ws as unknown as { pause(): void; resume(): void };
        const abort = () => {
          ws.close();
          finish({ exitCode: -1, message: 'canceled' });
        };
        if (o.signal?.aborted) abort();
        o.signal?.addEventListener('abort', abort, { once: true });
        ws.on('close', () => setImmediate(() => finish({ exitCode: -1, message: 'the exec stream closed without an exit status (connection cut or pod gone)' })));
      })
      .catch((err: unknown) => finish({ exitCode: -1, message: `exec into pod ${o.namespace}/${o.pod} container ${o.container} failed: ${(err as Error).message ?? String(err)}` }));
  });
}

function exitOf(status: V1Status): ExecResult {
  if (status.status === 'Success') return { exitCode: 0 };
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = cause?.message !== undefined ? Number(cause.message) : NaN;
  return { exitCode: Number.isInteger(code) ? code : -1, message: status.message ?? status.reason ?? 'command failed' };
}
