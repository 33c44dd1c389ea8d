/** Failures the agent itself detects (as opposed to a mover's MoverError). */
export type AgentErrorCode =
  | 'InvalidJob'
  | 'VolumeNotFound'
  | 'VolumeAmbiguous'
  | 'VolumeIsBlock'
  | 'VolumeOutsidePodsDir'
  | 'MoverUnavailable'
  | 'MarkerFailed'
  | 'InvalidConfig';

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
  }
}

export function isAgentError(err: unknown, code?: AgentErrorCode): err is AgentError {
  return err instanceof AgentError && (code === undefined || err.code === code);
}

/** Why the agent aborted a job: the value it passes to AbortController.abort(). */
export type AbortKind = 'canceled' | 'timeout' | 'interrupted';

export class JobAbort extends Error {
  readonly kind: AbortKind;

  constructor(kind: AbortKind, message: string) {
    super(message);
    this.name = 'JobAbort';
    this.kind = kind;
  }
}
