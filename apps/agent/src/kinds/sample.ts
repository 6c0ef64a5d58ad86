import { join } from 'node:path';
import { z } from 'zod';
import { fetchModel } from '../daemon/fetch-model.ts';
import type { AgentJobKind } from './kind.ts';
import {
  modelSourceFlags,
  modelSourceOfFlags,
  modelSourceOptions,
  num,
  samplerArgs,
  samplingFlags,
  samplingOptions,
} from './model-flags.ts';

export const sampleAgentKind: AgentJobKind<'sample'> = {
  type: 'sample',
  submit: {
    usage: `same meaning as \`anneal sample\`
--run RUN_ID           the trained run whose last checkpoint is sampled, or
--model-version ID     the registered model version whose checkpoint is sampled
[--n N] [--steps N] [--sampler S] [--seed N] [--class K] [--guidance W] [--eta X]
[--schedule default|uniform|karras|exponential] [--sigma-max S] [--rtol R] [--atol A]`,
    options: {
      ...modelSourceOptions,
      ...samplingOptions,
      class: { type: 'string' },
      eta: { type: 'string' },
      schedule: { type: 'string' },
      'sigma-max': { type: 'string' },
      rtol: { type: 'string' },
      atol: { type: 'string' },
    },
    flags: z.object({
      ...modelSourceFlags,
      ...samplingFlags,
      class: num,
      eta: num,
      schedule: z.string().optional(),
      'sigma-max': num,
      rtol: num,
      atol: num,
    }),
    spec: (f) => ({
      model: modelSourceOfFlags(f),
      n: f.n,
      steps: f.steps,
      sampler: f.sampler,
      seed: f.seed,
      class: f.class,
      guidance: f.guidance,
      eta: f.eta,
      schedule: f.schedule,
      sigma_max: f['sigma-max'],
      rtol: f.rtol,
      atol: f.atol,
    }),
    flagOf: { model: 'run or --model-version' },
  },
  async args(s, { api, work }) {
    const model = join(work, 'model');
    await fetchModel(api, s.model, model);
    const args = ['sample', '--model', model, '--out', join(work, 'grid.png'), '--json'];
    args.push('--events');
    args.push(...samplerArgs(s), '--n', String(s.n));
    args.push('--seed', String(s.seed), '--guidance', String(s.guidance));
    args.push('--eta', String(s.eta));
    if (s.class !== undefined) args.push('--class', String(s.class));
    if (s.sigma_max !== undefined) args.push('--sigma-max', String(s.sigma_max));
    return args;
  },
  outputs: (_, work) => [
    { path: 'samples/grid.png', file: join(work, 'grid.png'), what: 'the sample grid' },
  ],
};
