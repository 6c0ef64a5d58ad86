import { samplerSchema } from '@anneal/engine/config';
import { z } from 'zod';
import { UsageError } from '../args.ts';

// The flags of the kinds that read a checkpoint (sample, evaluate).

export const modelSourceOptions = {
  run: { type: 'string' },
  'model-version': { type: 'string' },
} as const;

export const modelSourceFlags = {
  run: z.string().optional(),
  'model-version': z.string().optional(),
};

/** The model source --run or --model-version names. */
export function modelSourceOfFlags(f: Record<string, unknown>) {
  if (f.run && f['model-version'])
    throw new UsageError('--model-version: give either --run or --model-version, not both');
  if (f.run) return { kind: 'run', runId: f.run };
  if (f['model-version']) return { kind: 'modelVersion', id: f['model-version'] };
  return undefined;
}

/** A number flag; the job's schema checks its range and names the flag when it is wrong. */
export const num = z.coerce.number().optional();
export const sampler = samplerSchema.optional();

/** The sampling flags both checkpoint kinds take: --n --steps --sampler --seed --guidance. */
export const samplingOptions = {
  n: { type: 'string' },
  steps: { type: 'string' },
  sampler: { type: 'string' },
  seed: { type: 'string' },
  guidance: { type: 'string' },
} as const;

export const samplingFlags = { n: num, steps: num, sampler, seed: num, guidance: num };

/**
 * The sampler's flags for \`anneal sample\` and \`anneal eval\`: --steps (and the schedule, for
 * sample) for a fixed-step sampler; the adaptive sampler picks its own steps and sigmas and
 * takes its tolerances instead (the commands refuse --steps and --schedule with it).
 */
export function samplerArgs(s: {
  sampler: string;
  steps: number;
  schedule?: string;
  rtol?: number;
  atol?: number;
}): string[] {
  const args = ['--sampler', s.sampler];
  if (s.sampler === 'adaptive') {
    if (s.rtol !== undefined) args.push('--rtol', String(s.rtol));
    if (s.atol !== undefined) args.push('--atol', String(s.atol));
    return args;
  }
  args.push('--steps', String(s.steps));
  if (s.schedule !== undefined) args.push('--schedule', s.schedule);
  return args;
}
