import { AppError } from '@anneal/core/errors';
import { fromNativeError, NATIVE_ERROR_CODES, type NativeErrorCode } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { errorEvent, isRetryable, SpecError } from './failure.ts';

// Whether a failed job runs again (issue 10, item 6): only what fails the same way on every
// attempt and every agent (the job's spec, its own input files, exact training) is final.

/** Every native error code, by whether the job that hit it is retried. */
const NATIVE: Record<NativeErrorCode, boolean> = {
  ANNEAL_INVALID_ARGUMENT: false,
  // Mostly the agent's own files: the shard cache, a downloaded checkpoint, the output folder.
  ANNEAL_NOT_FOUND: true,
  ANNEAL_IO: true,
  // Another agent may have the memory.
  ANNEAL_MEMORY_BUDGET: true,
  ANNEAL_OUT_OF_MEMORY: true,
  // Same seed, exact resume: diverges again.
  ANNEAL_DIVERGED: false,
  ANNEAL_INVALID_STATE: false,
  ANNEAL_INTERNAL: true,
};

describe('isRetryable', () => {
  it.each(NATIVE_ERROR_CODES.map((c) => [c, NATIVE[c]] as const))(
    'native %s: retried %s',
    (code, retried) => {
      const native = Object.assign(new Error(`failed (${code})`), { code });
      expect(isRetryable(fromNativeError(native))).toBe(retried);
    },
  );

  it('covers every native code in the table', () => {
    expect(Object.keys(NATIVE).sort()).toEqual([...NATIVE_ERROR_CODES].sort());
  });

  it("does not retry the job's own mistakes", () => {
    expect(isRetryable(new UsageError('--steps: expected a number'))).toBe(false);
    expect(isRetryable(new SpecError('model version 3 not found'))).toBe(false);
    // The dataset decode knows a file came from the job's dataset.
    expect(isRetryable(new AppError('BAD_REQUEST', 'shard x: cut short'))).toBe(false);
    expect(isRetryable(new AppError('CONFLICT', 'manifest hashes to y'))).toBe(false);
  });

  it('retries what another attempt may get past', () => {
    expect(isRetryable(new AppError('INTERNAL', 'download failed'))).toBe(true);
    expect(isRetryable(new AppError('RATE_LIMITED', 'slow down'))).toBe(true);
    expect(isRetryable(new Error('ECONNRESET'))).toBe(true);
  });

  it("puts the verdict in the child's error event", () => {
    const diverged = fromNativeError(
      Object.assign(new Error('training diverged'), { code: 'ANNEAL_DIVERGED' }),
    );
    expect(errorEvent(diverged, diverged.message)).toMatchObject({
      event: 'error',
      retryable: false,
      reason: expect.stringMatching(/lr.*grad_clip/),
    });
  });
});
