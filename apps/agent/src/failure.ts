import { type AppErrorCode, isAppError } from '@anneal/core/errors';
import type { ErrorEvent } from '@anneal/protocol';
import { UsageError } from './args.ts';

/** A job's spec names something that is not there: retrying elsewhere will not help either. */
export class SpecError extends Error {}

/**
 * Codes of errors that come from the job's own inputs (its spec, its dataset's files) rather
 * than from this machine or the network: every attempt, on any agent, fails the same way, so
 * the job is not retried. The engine maps its native errors onto these codes (a diverged
 * run is BAD_REQUEST; an unreadable or missing file INTERNAL, as it is mostly the agent's
 * own: see fromNativeError).
 */
const PERMANENT: readonly AppErrorCode[] = [
  'BAD_REQUEST',
  'NOT_FOUND',
  'CONFLICT',
  'PRECONDITION_FAILED',
  'PAYLOAD_TOO_LARGE',
];

/** Whether another attempt could succeed after `err`. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof UsageError || err instanceof SpecError) return false;
  if (isAppError(err)) return !PERMANENT.includes(err.code);
  return true;
}

/** The error event a job's child prints before it exits with a failure. */
export function errorEvent(err: unknown, message: string): ErrorEvent {
  return { event: 'error', reason: message || 'failed', retryable: isRetryable(err) };
}
