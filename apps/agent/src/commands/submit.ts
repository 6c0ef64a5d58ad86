import { AppError } from '@anneal/core/errors';
import { samplerSchema } from '@anneal/engine/config';
import { type JobSpecInput, jobSpecSchema } from '@anneal/protocol';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { api, resolveClient } from '../client/config.ts';
import { ProgressBar } from '../progress.ts';
import type { Command } from './command.ts';
import {
  trainJobFlagsSchema,
  trainJobOptions,
  trainJobUsage,
  trainSpecFields,
} from './train-flags.ts';

const usage = `Usage: anneal submit train|sample|evaluate|bench --project NAME [options]

Queues a job on the control plane through its REST API (the project is created when
missing and the token may). An agent picks it up.

Train: the job flags of \`anneal train\`, with the same meaning and defaults
${trainJobUsage.replace(/^(?=.)/gm, '  ')}
Sample (same meaning as \`anneal sample\`):
  --run RUN_ID           the trained run whose last checkpoint is sampled, or
  --model-version ID     the registered model version whose checkpoint is sampled
  [--n N] [--steps N] [--sampler S] [--seed N] [--class K] [--guidance W] [--eta X]
  [--schedule default|uniform|karras|exponential]
Evaluate (same meaning as \`anneal eval\`; the result is kept on the model version):
  --run RUN_ID | --model-version ID
  [--n N] [--sampler S] [--steps N] [--seed N] [--guidance W]
  [--reference-sampler S --reference-steps N] [--extractor-steps N] [--extractor-width N]
Bench (the engine's sampling benchmark on the agent; the result is kept on the agent):
  [--scale smoke|quick]  smoke: seconds, the numbers only show it works; quick (default):
                         a minute or two

Options:
  --project NAME   the project (required)
  --server URL     default: ANNEAL_SERVER, then \`anneal login\`'s config, then the server
                   \`npm start\` runs under ANNEAL_HOME (ANNEAL_HOME/server.json)
  --token T        default: ANNEAL_TOKEN, then \`anneal login\`'s config, then the local
                   owner's CLI token that server keeps under ANNEAL_HOME/secrets
  --wait           follow the job to its end with a progress bar
  --json           machine output; with --wait the last stdout line is
                   {"job_id", "run_id", "status"}, status succeeded | failed | cancelled
  -h, --help       show this help`;

const options = {
  ...trainJobOptions,
  project: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  run: { type: 'string' },
  n: { type: 'string' },
  sampler: { type: 'string' },
  class: { type: 'string' },
  eta: { type: 'string' },
  schedule: { type: 'string' },
  'model-version': { type: 'string' },
  guidance: { type: 'string' },
  'reference-sampler': { type: 'string' },
  'reference-steps': { type: 'string' },
  'extractor-steps': { type: 'string' },
  'extractor-width': { type: 'string' },
  scale: { type: 'string' },
} as const;

// Each job type's schema checks its own values (and names the flag when one is wrong);
// here only what a flag's type is.
const num = z.coerce.number().optional();
const flagsSchema = trainJobFlagsSchema.extend({
  project: z.string({ error: 'is required' }).min(1),
  server: z.string().optional(),
  token: z.string().optional(),
  wait: z.boolean().default(false),
  json: z.boolean().default(false),
  run: z.string().optional(),
  n: num,
  sampler: samplerSchema.optional(),
  class: num,
  eta: num,
  schedule: z.string().optional(),
  'model-version': z.string().optional(),
  guidance: num,
  'reference-sampler': samplerSchema.optional(),
  'reference-steps': num,
  'extractor-steps': num,
  'extractor-width': num,
  scale: z.string().optional(),
});

const KINDS = ['train', 'sample', 'evaluate', 'bench'] as const;
type Kind = (typeof KINDS)[number];

/** The spec field a flag sets, for error messages that name the flag. */
const FLAG_OF: Record<string, string> = {
  model: 'run or --model-version',
  conditional: 'unconditional',
  reference_sampler: 'reference-sampler',
  reference_steps: 'reference-steps',
  extractor_steps: 'extractor-steps',
  extractor_width: 'extractor-width',
};

interface JobRow {
  id: string;
  runId: string | null;
  status: string;
  step: number | null;
  error: string | null;
  spec: Record<string, unknown>;
}

const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

function modelSource(f: z.infer<typeof flagsSchema>) {
  if (f.run && f['model-version'])
    throw new UsageError('--model-version: give either --run or --model-version, not both');
  if (f.run) return { kind: 'run', runId: f.run };
  if (f['model-version']) return { kind: 'modelVersion', id: f['model-version'] };
  return undefined;
}

function buildJob(kind: Kind, f: z.infer<typeof flagsSchema>): JobSpecInput {
  const specs: Record<Kind, () => Record<string, unknown>> = {
    train: () => trainSpecFields(f),
    sample: () => ({
      model: modelSource(f),
      n: f.n,
      steps: f.steps,
      sampler: f.sampler,
      seed: f.seed,
      class: f.class,
      guidance: f.guidance,
      eta: f.eta,
      schedule: f.schedule,
    }),
    evaluate: () => ({
      model: modelSource(f),
      n: f.n,
      steps: f.steps,
      sampler: f.sampler,
      seed: f.seed,
      guidance: f.guidance,
      reference_sampler: f['reference-sampler'],
      reference_steps: f['reference-steps'],
      extractor_steps: f['extractor-steps'],
      extractor_width: f['extractor-width'],
    }),
    bench: () => ({ scale: f.scale }),
  };
  const raw = { type: kind, spec: defined(specs[kind]()) };
  const parsed = jobSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.slice(1) ?? [];
    const field = String(path[0] ?? kind);
    const flag = FLAG_OF[field] ?? field.replace(/_/g, '-');
    throw new UsageError(`--${flag}: ${issue?.message ?? 'invalid'}`);
  }
  return raw as JobSpecInput;
}

export const submit: Command = {
  name: 'submit',
  summary: 'queue a train, sample, evaluate or bench job on the control plane',
  usage,
  async run(argv, io) {
    const [given, ...rest] = argv;
    if (!(KINDS as readonly string[]).includes(given ?? ''))
      throw new UsageError(`expected \`submit ${KINDS.join('|')}\``);
    const flags = parseFlags(rest, options, flagsSchema);
    const kind = given as Kind;
    const job = buildJob(kind, flags);
    const client = resolveClient(flags);
    const { projects } = await api<{ projects: { id: string; name: string }[] }>(
      client,
      'GET',
      '/projects',
    );
    let project = projects.find((p) => p.name === flags.project);
    project ??= await api<{ id: string; name: string }>(client, 'POST', '/projects', {
      name: flags.project,
    });
    let row = await api<JobRow>(client, 'POST', `/projects/${project.id}/jobs`, { job });
    if (!flags.json) io.err(`queued ${kind} job ${row.id} (run ${row.runId}) in ${project.name}`);
    if (!flags.wait) {
      if (flags.json)
        io.out(JSON.stringify({ job_id: row.id, run_id: row.runId, status: row.status }));
      return 0;
    }
    const total = Number(row.spec.steps) || 1;
    const bar = new ProgressBar(total, kind);
    while (!['succeeded', 'failed', 'cancelled'].includes(row.status)) {
      await new Promise((r) => setTimeout(r, 1000));
      row = await api<JobRow>(client, 'GET', `/jobs/${row.id}`);
      bar.update(row.step ?? 0, row.status);
    }
    bar.done();
    if (row.status !== 'succeeded' && !flags.json) io.err(`job ${row.status}: ${row.error ?? ''}`);
    io.out(
      flags.json
        ? JSON.stringify({ job_id: row.id, run_id: row.runId, status: row.status })
        : `job ${row.id} ${row.status} (run ${row.runId})`,
    );
    if (row.status === 'succeeded') return 0;
    if (row.status === 'cancelled') return 130;
    throw new AppError('INTERNAL', `job ${row.id} failed`);
  },
};
