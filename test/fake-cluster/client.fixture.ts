/** Test helpers for talking to the FAKE API server through client-node (test support only). */
import { ApiException } from '@kubernetes/client-node';

export interface ApiFailure {
  code: number;
  body: { kind?: string; reason?: string; message?: string; code?: number; details?: unknown };
}

/** Awaits a client-node call that must fail and returns its HTTP code and parsed Status body. */
export async function apiFailure(p: Promise<unknown>): Promise<ApiFailure> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = typeof err.body === 'string' ? (JSON.parse(err.body) as ApiFailure['body']) : (err.body as ApiFailure['body']);
    return { code: err.code, body };
  }
  throw new Error('expected the request to fail, but it succeeded');
}

/** Polls until `check` passes or `ms` run out. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
