import { describe, expect, it } from 'vitest';
import { samplerArgs } from './model-flags.ts';

describe('the sampler flags a job passes to anneal sample and eval', () => {
  it('a fixed-step sampler gets its steps and schedule', () => {
    expect(samplerArgs({ sampler: 'dpmpp-2m', steps: 20, schedule: 'karras' })).toEqual([
      '--sampler',
      'dpmpp-2m',
      '--steps',
      '20',
      '--schedule',
      'karras',
    ]);
    expect(samplerArgs({ sampler: 'euler', steps: 8, rtol: 0.1 })).toEqual([
      '--sampler',
      'euler',
      '--steps',
      '8',
    ]);
  });

  it('the adaptive sampler gets its tolerances, never the steps or schedule it refuses', () => {
    expect(
      samplerArgs({ sampler: 'adaptive', steps: 20, schedule: 'default', rtol: 0.02, atol: 0.01 }),
    ).toEqual(['--sampler', 'adaptive', '--rtol', '0.02', '--atol', '0.01']);
    expect(samplerArgs({ sampler: 'adaptive', steps: 20 })).toEqual(['--sampler', 'adaptive']);
  });
});
