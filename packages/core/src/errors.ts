/** What went wrong, in terms a caller can act on; mapped to HTTP/tRPC/exit codes in one place each. */
export type AppErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'PRECONDITION_FAILED'
  | 'RESOURCE_EXHAUSTED'
  | 'RATE_LIMITED'
  /** A dependency (an agent, a replica) is gone or did not answer in time; retrying may help. */
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** The one error type with a user-facing message. */
export class AppError extends Error {
  override readonly name = 'AppError';
  /** For RATE_LIMITED: whole seconds until a retry may succeed (HTTP `Retry-After`). */
  readonly retryAfterS: number | undefined;
  constructor(
    readonly code: AppErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterS?: number },
  ) {
    super(message, options);
    this.retryAfterS = options?.retryAfterS;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
