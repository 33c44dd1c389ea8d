/**
 * What every API handler shares: the context (cluster state, clock, log, repositories),
 * the change feed watches listen to, and the two wrappers that authenticate the caller,
 * run the handler and turn any failure into a gRPC status through errors.ts.
 */
import { Metadata, status as GrpcStatus, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '@ferry/log';
import type { Clock } from '../clock.js';
import type { ClusterEvent, ClusterState } from '../cluster/cluster-state.js';
import { grpcStatusOf, isCoordinatorError, messageOf } from '../errors.js';
import type { PurgeMoverFactory } from '../purge.js';
import type { CoordinatorMetrics } from '../metrics.js';
import type { Repositories } from '../repositories.js';
import { authenticate, type Caller } from './auth.js';

/** Cluster changes fanned out to open Watch streams (fed by the leader's one ClusterWatch). */
export class ChangeFeed {
  private readonly listeners = new Set<(e: ClusterEvent) => void>();

  publish(e: ClusterEvent): void {
    for (const l of this.listeners) l(e);
  }

  subscribe(listener: (e: ClusterEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  get size(): number {
    return this.listeners.size;
  }
}

export interface ApiContext {
  readonly cluster: ClusterState;
  readonly clock: Clock;
  readonly log: Logger;
  /** The coordinator's namespace (BackupRepositories live there). */
  readonly namespace: string;
  readonly repositories: Repositories;
  /** Opens repositories for ListSnapshots/ForgetSnapshots (metadata only), as purge does. */
  readonly movers: PurgeMoverFactory;
  readonly changes: ChangeFeed;
  /** Watch streams also re-read this often, in case a change event was missed. */
  readonly resyncMs: number;
  /** Open server streams; back to 0 when every client went away. */
  readonly streams: { open: number };
  /** Calls by method and status code, and their durations. */
  readonly metrics: Pick<CoordinatorMetrics, 'apiRequests' | 'apiRequestDuration'>;
}

export type UnaryImpl<Req, Res> = (ctx: ApiContext, caller: Caller, request: Req) => Promise<Res>;

export interface StreamSink<Res> {
  write(message: Res): void;
  /** Aborted when the client cancels or the server stops. */
  readonly signal: AbortSignal;
}

export type StreamImpl<Req, Res> = (ctx: ApiContext, caller: Caller, request: Req, sink: StreamSink<Res>) => Promise<void>;

function toServiceError(ctx: ApiContext, method: string, caller: Caller | undefined, err: unknown): Partial<ServiceError> {
  const { code, details } = grpcStatusOf(err);
  if (!isCoordinatorError(err)) ctx.log.error('API call failed', { method, user: caller?.user.username, error: messageOf(err) });
  else if (code === GrpcStatus.PERMISSION_DENIED || code === GrpcStatus.UNAUTHENTICATED) ctx.log.info('API call refused', { method, user: caller?.user.username, reason: details });
  return { code, details, metadata: new Metadata() };
}

/** Counts a finished call; durations are wall time on purpose (what a caller waited), not the injected Clock. */
function observe(ctx: ApiContext, method: string, code: GrpcStatus, startedAt: number): void {
  ctx.metrics.apiRequests.inc({ method, code: GrpcStatus[code] ?? String(code) });
  ctx.metrics.apiRequestDuration.observe({ method }, (performance.now() - startedAt) / 1000);
}

export function unary<Req, Res>(ctx: ApiContext, method: string, impl: UnaryImpl<Req, Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const startedAt = performance.now();
    let caller: Caller | undefined;
    void (async () => {
      caller = await authenticate(ctx.cluster, call);
      return impl(ctx, caller, call.request);
    })().then(
      (res) => {
        observe(ctx, method, GrpcStatus.OK, startedAt);
        callback(null, res);
      },
      (err: unknown) => {
        const failure = toServiceError(ctx, method, caller, err);
        observe(ctx, method, failure.code ?? GrpcStatus.UNKNOWN, startedAt);
        callback(failure);
      },
    );
  };
}

export function serverStream<Req, Res>(ctx: ApiContext, method: string, impl: StreamImpl<Req, Res>) {
  return (call: ServerWritableStream<Req, Res>): void => {
    const startedAt = performance.now();
    const abort = new AbortController();
    const cancel = (): void => abort.abort();
    call.on('cancelled', cancel);
    call.on('close', cancel);
    ctx.streams.open++;
    let caller: Caller | undefined;
    void (async () => {
      caller = await authenticate(ctx.cluster, call);
      await impl(ctx, caller, call.request, { write: (m) => void call.write(m), signal: abort.signal });
    })()
      .then(
        () => {
          observe(ctx, method, call.cancelled ? GrpcStatus.CANCELLED : GrpcStatus.OK, startedAt);
          return call.cancelled || call.end();
        },
        // grpc-js turns an 'error' event on a server stream into its final status.
        (err: unknown) => {
          const failure = toServiceError(ctx, method, caller, err);
          observe(ctx, method, call.cancelled ? GrpcStatus.CANCELLED : (failure.code ?? GrpcStatus.UNKNOWN), startedAt);
          return call.cancelled || call.emit('error', failure as ServiceError);
        },
      )
      .finally(() => {
        ctx.streams.open--;
        call.off('cancelled', cancel);
        call.off('close', cancel);
      });
  };
}
