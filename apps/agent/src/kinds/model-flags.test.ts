import { jobSpecSchema } from '@anneal/protocol';
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
    expect(samplerArgs({ sampler: 'euler', steps: 8 })).toEqual([
      '--sampler',
      'euler',
      '--steps',
      '8',
    ]);
  });

  it('a fixed-step sampler with tolerances never gets this far: the job spec is refused', () => {
    for (const type of ['sample', 'evaluate'] as const) {
      const r = jobSpecSchema.safeParse({
        type,
        spec: {
          model: { kind: 'run', runId: '00000000-0000-4000-8000-000000000001' },
          sampler: 'euler',
          steps: 8,
          rtol: 0.1,
        },
      });
      expect(r.success).toBe(false);
      expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')).toMatch(
        /rtol: needs sampler adaptive/,
      );
    }
  });

  it('the adaptive sampler gets its tolerances, never the steps or schedule it refuses', () => {
    expect(
      samplerArgs({ sampler: 'adaptive', steps: 20, schedule: 'default', rtol: 0.02, atol: 0.01 }),
    ).toEqual(['--sampler', 'adaptive', '--rtol', '0.02', '--atol', '0.01']);
    expect(samplerArgs({ sampler: 'adaptive', steps: 20 })).toEqual(['--sampler', 'adaptive']);
  });
});
