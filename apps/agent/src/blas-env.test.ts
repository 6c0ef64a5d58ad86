import { describe, expect, it } from 'vitest';
import { blasEnvFor, TRAINING_BLAS_WAIT } from './blas-env.ts';

describe('blasEnvFor', () => {
  it('shortens the BLAS workers wait for the commands that train', () => {
    for (const command of ['train', 'distill', 'search'])
      expect(blasEnvFor(command, {})).toEqual({ OPENBLAS_THREAD_TIMEOUT: TRAINING_BLAS_WAIT });
  });

  it('leaves the commands that sample or measure latency on OpenBLAS default', () => {
    for (const command of ['sample', 'plan', 'bench', 'serve', 'eval', 'agent', undefined])
      expect(blasEnvFor(command, {})).toEqual({});
  });

  it('never overrides the user, an empty value included', () => {
    expect(blasEnvFor('train', { OPENBLAS_THREAD_TIMEOUT: '28' })).toEqual({});
    expect(blasEnvFor('search', { OPENBLAS_THREAD_TIMEOUT: '' })).toEqual({});
  });
});
