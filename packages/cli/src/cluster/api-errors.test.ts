import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode, exitCodeForError } from '../exit-codes.js';
import { apiError, connectionProblem } from './api-errors.js';

function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

const at = { server: 'ferry.example:8443', auth: 'token' as const };

function mapped(code: status, details: string, auth: 'token' | 'certificate' | 'none' = 'token'): { message: string; exit: number } {
  const err = apiError(serviceError(code, details), { ...at, auth });
  expect(err).toBeInstanceOf(CliError);
  return { message: err.message, exit: exitCodeForError(err) };
}

describe('gRPC status → one line and exit code', () => {
  it('UNAVAILABLE names the server, keeps the socket error and asks about --server', () => {
    const r = mapped(status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ');
    expect(r.message).toBe('cannot reach coordinator at ferry.example:8443: connect ECONNREFUSED 127.0.0.1:1 (is --server right?)');
    expect(r.exit).toBe(ExitCode.unavailable);
  });

  it('UNAVAILABLE from a TLS failure points at the TLS flags instead', () => {
    const r = mapped(status.UNAVAILABLE, 'No connection established. Last error: Error: self-signed certificate in certificate chain. Resolution note: ');
    expect(r.message).toContain('self-signed certificate in certificate chain');
    expect(r.message).toContain('check --ca, --cert/--key, or --insecure');
  });

  it('UNAUTHENTICATED and PERMISSION_DENIED exit 13 with what to do', () => {
    const noCreds = mapped(status.UNAUTHENTICATED, 'no credentials', 'none');
    expect(noCreds.exit).toBe(ExitCode.denied);
    expect(noCreds.message).toContain('give --token or FERRY_TOKEN, --kubeconfig, or a client certificate');
    expect(mapped(status.UNAUTHENTICATED, 'rejected', 'token').message).toContain('the token is not valid for this cluster');
    const denied = mapped(status.PERMISSION_DENIED, 'user alice may not create backups.ferry.dev in namespace shop; grant it with a Role/ClusterRole binding');
    expect(denied.exit).toBe(ExitCode.denied);
    expect(denied.message).toMatch(/^permission denied: user alice may not create backups\.ferry\.dev in namespace shop/);
  });

  it('NOT_FOUND exits 11; INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION exit 1 with the details', () => {
    expect(mapped(status.NOT_FOUND, 'backup shop/b9 not found')).toEqual({ message: 'not found: backup shop/b9 not found', exit: ExitCode.notFound });
    expect(mapped(status.INVALID_ARGUMENT, 'pod_selector: unbalanced parenthesis')).toEqual({ message: 'invalid request: pod_selector: unbalanced parenthesis', exit: ExitCode.error });
    expect(mapped(status.ALREADY_EXISTS, 'backup shop/b1 exists').message).toContain('choose another name');
    expect(mapped(status.FAILED_PRECONDITION, 'backup shop/b1 is Completed').message).toBe('not possible now: backup shop/b1 is Completed');
    expect(mapped(status.INTERNAL, 'boom').message).toBe('the coordinator at ferry.example:8443 failed the call (INTERNAL): boom');
  });

  it('CANCELLED (our own Ctrl-C) becomes an interruption, other errors pass through', () => {
    expect(exitCodeForError(apiError(serviceError(status.CANCELLED, 'Cancelled on client'), at))).toBe(ExitCode.interrupted);
    const plain = new Error('not a gRPC error');
    expect(apiError(plain, at)).toBe(plain);
  });

  it('keeps a details text it cannot shorten', () => {
    expect(connectionProblem('Name resolution failed for target dns:nohost:1')).toBe('Name resolution failed for target dns:nohost:1');
  });
});
