import { join } from 'node:path';
import { z } from 'zod';
import { fetchModel } from '../daemon/fetch-model.ts';
import type { AgentJobKind } from './kind.ts';
import {
  modelSourceFlags,
  modelSourceOfFlags,
  modelSourceOptions,
  num,
  sampler,
  samplerArgs,
  samplingFlags,
  samplingOptions,
} from './model-flags.ts';

export const evaluateAgentKind: AgentJobKind<'evaluate'> = {
  type: 'evaluate',
  submit: {
    usage: `same meaning as \`anneal eval\`; the result is kept on the model version
--run RUN_ID | --model-version ID
[--n N] [--sampler S] [--steps N] [--seed N] [--guidance W] [--sigma-max S] [--rtol R] [--atol A]
[--reference-sampler S --reference-steps N] [--extractor-steps N] [--extractor-width N]
[--resolution N[,N]]`,
    options: {
      ...modelSourceOptions,
      ...samplingOptions,
      'sigma-max': { type: 'string' },
      'reference-sampler': { type: 'string' },
      'reference-steps': { type: 'string' },
      'extractor-steps': { type: 'string' },
      'extractor-width': { type: 'string' },
      resolution: { type: 'string' },
      rtol: { type: 'string' },
      atol: { type: 'string' },
    },
    flags: z.object({
      ...modelSourceFlags,
      ...samplingFlags,
      'sigma-max': num,
      'reference-sampler': sampler,
      'reference-steps': num,
      'extractor-steps': num,
      'extractor-width': num,
      resolution: z
        .string()
        .regex(/^\d+(,\d+)*$/, 'must be a comma-separated list of sides in pixels, such as 16,32')
        .transform((v) => v.split(',').map(Number))
        .optional(),
      rtol: num,
      atol: num,
    }),
    spec: (f) => ({
      model: modelSourceOfFlags(f),
      n: f.n,
      steps: f.steps,
      sampler: f.sampler,
      seed: f.seed,
      guidance: f.guidance,
      sigma_max: f['sigma-max'],
      reference_sampler: f['reference-sampler'],
      reference_steps: f['reference-steps'],
      extractor_steps: f['extractor-steps'],
      extractor_width: f['extractor-width'],
      resolutions: f.resolution,
      rtol: f.rtol,
      atol: f.atol,
    }),
    flagOf: { model: 'run or --model-version' },
  },
  async args(s, { api, work }) {
    const model = join(work, 'model');
    await fetchModel(api, s.model, model);
    const args = ['eval', '--model', model, '--json', '--events'];
    args.push('--grid', join(work, 'grid.png'));
    args.push(...samplerArgs(s), '--n', String(s.n));
    args.push('--seed', String(s.seed), '--guidance', String(s.guidance));
    if (s.sigma_max !== undefined) args.push('--sigma-max', String(s.sigma_max));
    if (s.reference_sampler) args.push('--reference-sampler', s.reference_sampler);
    if (s.reference_steps !== undefined) args.push('--reference-steps', String(s.reference_steps));
    if (s.extractor_steps !== undefined) args.push('--extractor-steps', String(s.extractor_steps));
    if (s.extractor_width !== undefined) args.push('--extractor-width', String(s.extractor_width));
    if (s.resolutions) args.push('--resolution', s.resolutions.join(','));
    return args;
  },
  outputs: (_, work) => [
    { path: 'samples/grid.png', file: join(work, 'grid.png'), what: 'the first samples scored' },
  ],
};
