import { join } from 'node:path';
import { z } from 'zod';
import { versionCheckpointDir } from '../client/model-version.ts';
import { fetchModel } from '../daemon/fetch-model.ts';
import type { AgentJobKind } from './kind.ts';
import { modelSourceFlags, modelSourceOfFlags, modelSourceOptions, num } from './model-flags.ts';

const list = z
  .string()
  .optional()
  .transform((s) => s?.split(',').map((x) => x.trim()));
const numbers = z
  .string()
  .optional()
  .transform((s) => s?.split(',').map((x) => Number(x.trim())));

/**
 * Where the job reads the checkpoint: a model version's in ANNEAL_HOME/models/versions/<id>
 * (as `anneal plan --model VERSION` keeps it), so its quality curve, cached beside it, is
 * reused by the next plan job on this agent; a run's in the lease's folder.
 */
async function checkpointDir(
  source: { kind: 'run'; runId: string } | { kind: 'modelVersion'; id: string },
  fetch: (dir: string) => Promise<void>,
  work: string,
): Promise<string> {
  if (source.kind === 'modelVersion') return versionCheckpointDir(source.id, fetch);
  const dir = join(work, 'model');
  await fetch(dir);
  return dir;
}

export const planAgentKind: AgentJobKind<'plan'> = {
  type: 'plan',
  submit: {
    usage: `same meaning as \`anneal plan\`; the plan is kept on the model version per hardware profile
--run RUN_ID | --model-version ID
(--latency-ms X [--batch B] | --throughput N | --max-fd F)
[--n N] [--samplers S[:SCHEDULE],...] [--nfe A,B,...] [--seed N] [--guidance W]
[--verify-fd N] [--statistic median|min] [--batches A,B,...] [--dtypes float32,bfloat16]
[--extractor-steps N] [--extractor-width N] [--replace]`,
    options: {
      ...modelSourceOptions,
      'latency-ms': { type: 'string' },
      throughput: { type: 'string' },
      'max-fd': { type: 'string' },
      batch: { type: 'string' },
      n: { type: 'string' },
      samplers: { type: 'string' },
      nfe: { type: 'string' },
      seed: { type: 'string' },
      guidance: { type: 'string' },
      'verify-fd': { type: 'string' },
      statistic: { type: 'string' },
      batches: { type: 'string' },
      dtypes: { type: 'string' },
      'extractor-steps': { type: 'string' },
      'extractor-width': { type: 'string' },
      replace: { type: 'boolean' },
    },
    flags: z.object({
      ...modelSourceFlags,
      'latency-ms': num,
      throughput: num,
      'max-fd': num,
      batch: num,
      n: num,
      samplers: list,
      nfe: numbers,
      seed: num,
      guidance: num,
      'verify-fd': num,
      statistic: z.string().optional(),
      batches: numbers,
      dtypes: list,
      'extractor-steps': num,
      'extractor-width': num,
      replace: z.boolean().optional(),
    }),
    spec: (f) => ({
      model: modelSourceOfFlags(f),
      latency_ms: f['latency-ms'],
      throughput: f.throughput,
      max_fd: f['max-fd'],
      batch: f.batch,
      n: f.n,
      samplers: f.samplers,
      nfe: f.nfe,
      seed: f.seed,
      guidance: f.guidance,
      verify_fd: f['verify-fd'],
      statistic: f.statistic,
      batches: f.batches,
      dtypes: f.dtypes,
      extractor_steps: f['extractor-steps'],
      extractor_width: f['extractor-width'],
      replace: f.replace,
    }),
    flagOf: {
      model: 'run or --model-version',
      latency_ms: 'latency-ms',
      max_fd: 'max-fd',
      verify_fd: 'verify-fd',
    },
  },
  async args(s, { api, work }) {
    const model = await checkpointDir(s.model, (dir) => fetchModel(api, s.model, dir), work);
    const args = ['plan', '--model', model, '--json', '--events'];
    if (s.latency_ms !== undefined) args.push('--latency-ms', String(s.latency_ms));
    if (s.throughput !== undefined) args.push('--throughput', String(s.throughput));
    if (s.max_fd !== undefined) args.push('--max-fd', String(s.max_fd));
    if (s.throughput === undefined) args.push('--batch', String(s.batch));
    args.push('--n', String(s.n), '--seed', String(s.seed));
    args.push('--guidance', String(s.guidance), '--statistic', s.statistic);
    if (s.samplers) args.push('--samplers', s.samplers.join(','));
    if (s.nfe) args.push('--nfe', s.nfe.join(','));
    if (s.batches) args.push('--batches', s.batches.join(','));
    if (s.dtypes) args.push('--dtypes', s.dtypes.join(','));
    if (s.verify_fd !== undefined) args.push('--verify-fd', String(s.verify_fd));
    if (s.extractor_steps !== undefined) args.push('--extractor-steps', String(s.extractor_steps));
    if (s.extractor_width !== undefined) args.push('--extractor-width', String(s.extractor_width));
    if (s.replace) args.push('--replace');
    return args;
  },
  outputs: () => [],
};
