import type { ServerResponse } from 'node:http';
import { AppError, type AppErrorCode, isAppError } from '@anneal/core';
import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { ZodError } from 'zod';

// The one mapping from AppError codes to HTTP statuses and tRPC codes.
const HTTP_STATUS: Record<AppErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  RESOURCE_EXHAUSTED: 429,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

const TRPC_CODE: Record<AppErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  RESOURCE_EXHAUSTED: 'TOO_MANY_REQUESTS',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

/** tRPC's own errors (raised before our code runs) back to AppError codes. */
const FROM_TRPC_CODE: Partial<Record<TRPC_ERROR_CODE_KEY, AppErrorCode>> = {
  BAD_REQUEST: 'BAD_REQUEST',
  PARSE_ERROR: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_SUPPORTED: 'BAD_REQUEST',
  CONFLICT: 'CONFLICT',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
};

/** The one refusal of a JSON body over the limit, for REST and tRPC alike. */
export function bodyTooLarge(limit: number | undefined): AppError {
  return new AppError(
    'PAYLOAD_TOO_LARGE',
    limit === undefined
      ? 'body: larger than the JSON body limit'
      : `body: JSON bodies are limited to ${limit} bytes`,
  );
}

/** `field.sub: message` for the first issue, so every validation error names its field. */
export function describeZodError(err: ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid input';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Any thrown value as an AppError; unknown errors become INTERNAL without leaking details.
 * `jsonLimit` names the limit when tRPC itself refused a body as too large.
 */
export function asAppError(err: unknown, context: { jsonLimit?: number } = {}): AppError {
  if (isAppError(err)) return err;
  if (err instanceof ZodError)
    return new AppError('BAD_REQUEST', describeZodError(err), { cause: err });
  if (err instanceof TRPCError && err.cause) return asAppError(err.cause, context);
  if (err instanceof TRPCError) {
    if (err.code === 'PAYLOAD_TOO_LARGE') return bodyTooLarge(context.jsonLimit);
    const code = FROM_TRPC_CODE[err.code];
    // tRPC's own messages for these (bad JSON, unknown procedure, wrong method) say what
    // was wrong; its internal errors keep the generic answer.
    if (code) return new AppError(code, err.message, { cause: err });
  }
  if (err instanceof SyntaxError) return new AppError('BAD_REQUEST', `body: ${err.message}`);
  return new AppError('INTERNAL', 'internal error', { cause: err });
}

export function httpStatusOf(err: AppError): number {
  return HTTP_STATUS[err.code];
}

export function toTRPCError(err: unknown): TRPCError {
  if (err instanceof TRPCError && !(err.cause instanceof AppError)) return err;
  const app = asAppError(err);
  return new TRPCError({ code: TRPC_CODE[app.code], message: app.message, cause: app });
}

/** Says when to retry (`Retry-After`) on a response whose error carries it (RATE_LIMITED). */
export function setRetryAfter(res: ServerResponse, err: unknown): void {
  if (isAppError(err) && err.retryAfterS !== undefined)
    res.setHeader('retry-after', String(err.retryAfterS));
}
