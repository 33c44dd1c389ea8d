/**
 * grpc.health.v1.Health, implemented here rather than with a library so its answer is the
 * coordinator's own: SERVING while this replica leads and serves the API, NOT_SERVING while
 * it stops. Unauthenticated, as probes and load balancers expect.
 */
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type { HealthCheckRequest__Output, HealthCheckResponse, HealthHandlers } from '@ferry/api';

type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export class HealthState {
  private serving = false;
  private closing = false;
  private readonly watchers = new Set<() => void>();

  /** `services`: fully qualified names answered besides '' (the whole server). */
  constructor(private readonly services: readonly string[]) {}

  set(serving: boolean): void {
    this.serving = serving;
    for (const w of this.watchers) w();
  }

  statusOf(service: string): ServingStatus | undefined {
    if (service !== '' && !this.services.includes(service)) return undefined;
    return this.serving ? 'SERVING' : 'NOT_SERVING';
  }

  /** Ends every Watch stream (server stopping). */
  closeAll(): void {
    this.closing = true;
    this.set(false);
  }

  handlers(streams: { open: number }): HealthHandlers {
    return {
      Check: (call: ServerUnaryCall<HealthCheckRequest__Output, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
        const s = this.statusOf(call.request.service);
        if (s === undefined) return callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service ${call.request.service}` });
        callback(null, { status: s });
      },
      Watch: (call: ServerWritableStream<HealthCheckRequest__Output, HealthCheckResponse>) => this.watch(call, streams),
    };
  }

  private watch(call: ServerWritableStream<HealthCheckRequest__Output, HealthCheckResponse>, streams: { open: number }): void {
    let last: ServingStatus | undefined;
    const send = (): void => {
      if (this.closing) return void end();
      const s = this.statusOf(call.request.service) ?? 'SERVICE_UNKNOWN';
      if (s !== last) call.write({ status: s });
      last = s;
    };
    const end = (): void => {
      if (!this.watchers.delete(send)) return;
      streams.open--;
      if (!call.cancelled) call.end();
    };
    streams.open++;
    this.watchers.add(send);
    call.on('cancelled', end);
    call.on('close', end);
    send();
  }
}
