/**
 * The one place that turns a gRPC status from the coordinator into the one-line message and
 * exit code `ferry` prints. The coordinator's details already name the resource, verb and
 * namespace; this adds what the caller can do about it.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { CliError, ExitCode } from '../exit-codes.js';

export interface ApiErrorContext {
  /** host:port as given, for the messages. */
  readonly server: string;
  /** How the caller authenticated, for the UNAUTHENTICATED hint. */
  readonly auth: 'token' | 'certificate' | 'none';
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

export function apiError(err: unknown, context: ApiErrorContext): Error {
  if (!isServiceError(err)) return err instanceof Error ? err : new Error(String(err));
  const details = (err.details || err.message).trim();
  switch (err.code) {
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return new CliError(`cannot reach coordinator at ${context.server}: ${connectionProblem(details)}${unreachableHint(details)}`, ExitCode.unavailable);
    case status.UNAUTHENTICATED:
      return new CliError(`the coordinator at ${context.server} did not accept the credentials: ${details} (${authHint(context.auth)})`, ExitCode.denied);
    case status.PERMISSION_DENIED:
      return new CliError(`permission denied: ${details} (ask for a role that grants it, or use a namespace you may reach)`, ExitCode.denied);
    case status.NOT_FOUND:
      return new CliError(`not found: ${details}`, ExitCode.notFound);
    case status.INVALID_ARGUMENT:
      return new CliError(`invalid request: ${details}`);
    case status.ALREADY_EXISTS:
      return new CliError(`already exists: ${details} (choose another name, or delete the old one first)`);
    case status.FAILED_PRECONDITION:
      return new CliError(`not possible now: ${details}`);
    case status.UNIMPLEMENTED:
      return new CliError(`the coordinator at ${context.server} does not serve this call (${details}): is it older than this ferry?`);
    case status.CANCELLED:
      return Object.assign(new Error('interrupted'), { code: 'Canceled' });
    default:
      return new CliError(`the coordinator at ${context.server} failed the call (${status[err.code] ?? err.code}): ${details}`);
  }
}

/**
 * grpc-js wraps the socket error: "No connection established. Last error: Error: connect
 * ECONNREFUSED 127.0.0.1:1. Resolution note: ". The socket error is the useful part.
 */
export function connectionProblem(details: string): string {
  const last = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(details);
  const text = (last?.[1] ?? details).trim();
  return text === '' ? details : text;
}

function unreachableHint(details: string): string {
  if (/certificate|ssl|tls|handshake|self[- ]signed|alert/i.test(details)) return ' (check --ca, --cert/--key, or --insecure for a plaintext server)';
  return ' (is --server right?)';
}

function authHint(auth: ApiErrorContext['auth']): string {
  if (auth === 'none') return 'give --token or FERRY_TOKEN, --kubeconfig, or a client certificate with --cert/--key';
  if (auth === 'token') return 'the token is not valid for this cluster: renew it, or check --token, FERRY_TOKEN or --kubeconfig';
  return 'the client certificate was not accepted: check --cert/--key';
}
