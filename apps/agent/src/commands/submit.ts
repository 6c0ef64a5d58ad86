import { AppError } from '@anneal/core/errors';
import {
  type JobSpecInput,
  type JobType,
  jobKinds,
  jobSpecSchema,
  jobTotalSteps,
} from '@anneal/protocol';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { api, resolveClient } from '../client/config.ts';
import { projectNamed } from '../client/projects.ts';
import { agentJobKind } from '../kinds/index.ts';
import { ProgressBar } from '../progress.ts';
import type { Command } from './command.ts';

const types = jobKinds.map((k) => k.type);
/** How many of a failed job's last output lines `--wait` prints. */
const FAILURE_LOG_LINES = 20;

const usage = `Usage: anneal submit ${types.join('|')} --project NAME [options]

Queues a job on the control plane through its REST API (the project is created when
missing and the token may). An agent picks it up.

${jobKinds
  .map((k) => {
    const [first, ...rest] = agentJobKind(k.type).submit.usage.split('\n');
    const title = k.type.charAt(0).toUpperCase() + k.type.slice(1);
    return `${title}: ${first}\n${rest.join('\n').replace(/^(?=.)/gm, '  ')}`;
  })
  .join('\n')}

Options:
  --project NAME   the project (required)
  --server URL     default: ANNEAL_SERVER, then \`anneal login\`'s config, then the server
                   \`npm start\` runs under ANNEAL_HOME (ANNEAL_HOME/server.json)
  --token T        default: ANNEAL_TOKEN, then \`anneal login\`'s config, then the local
                   owner's CLI token that server keeps under ANNEAL_HOME/secrets
  --wait           follow the job to its end with a progress bar; a failed job prints
                   its reason and the last lines of its output
  --json           machine output; with --wait the last stdout line is
                   {"job_id", "run_id", "status"}, status succeeded | failed | cancelled
  -h, --help       show this help`;

const commonOptions = {
  project: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const commonFlags = z.object({
  project: z.string({ error: 'is required' }).min(1),
  server: z.string().optional(),
  token: z.string().optional(),
  wait: z.boolean().default(false),
  json: z.boolean().default(false),
});

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

/** The job the kind's flags describe, refused with the flag named when a value is wrong. */
function buildJob(type: JobType, flags: Record<string, unknown>): JobSpecInput {
  const { submit } = agentJobKind(type);
  const raw = { type, spec: defined(submit.spec(flags)) };
  const parsed = jobSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.slice(1) ?? [];
    const field = String(path[0] ?? type);
    const flag = submit.flagOf?.[field] ?? field.replace(/_/g, '-');
    throw new UsageError(`--${flag}: ${issue?.message ?? 'invalid'}`);
  }
  return raw as JobSpecInput;
}

export const submit: Command = {
  name: 'submit',
  summary: `queue a ${types.join(', ')} job on the control plane`,
  usage,
  async run(argv, io) {
    const [given, ...rest] = argv;
    if (!(types as string[]).includes(given ?? ''))
      throw new UsageError(`expected \`submit ${types.join('|')}\``);
    const kind = given as JobType;
    const { submit: kindFlags } = agentJobKind(kind);
    const flags = parseFlags(
      rest,
      { ...commonOptions, ...kindFlags.options },
      commonFlags.extend(kindFlags.flags.shape),
    );
    const job = buildJob(kind, flags);
    const client = resolveClient(flags);
    // commonFlags parsed it: a non-empty string.
    const project = await projectNamed(client, flags.project as string, { create: true });
    let row = await api<JobRow>(client, 'POST', `/projects/${project.id}/jobs`, { job });
    if (!flags.json) io.err(`queued ${kind} job ${row.id} (run ${row.runId}) in ${project.name}`);
    if (!flags.wait) {
      if (flags.json)
        io.out(JSON.stringify({ job_id: row.id, run_id: row.runId, status: row.status }));
      return 0;
    }
    const total = jobTotalSteps(kind, row.spec) ?? 1;
    const bar = new ProgressBar(total, kind);
    while (!['succeeded', 'failed', 'cancelled'].includes(row.status)) {
      await new Promise((r) => setTimeout(r, 1000));
      row = await api<JobRow>(client, 'GET', `/jobs/${row.id}`);
      bar.update(row.step ?? 0, row.status);
    }
    bar.done();
    if (row.status === 'failed' && !flags.json) {
      io.err(`job failed: ${row.error ?? 'no reason recorded'}`);
      // The failed attempt's last output lines, which the agent keeps as the run's logs.
      const { lines } = row.runId
        ? await api<{ lines: { line: string }[] }>(client, 'GET', `/runs/${row.runId}/logs`).catch(
            () => ({ lines: [] }),
          )
        : { lines: [] };
      const tail = lines.slice(-FAILURE_LOG_LINES);
      if (tail.length) {
        io.err(`last ${tail.length === 1 ? 'line' : `${tail.length} lines`} of the job's output:`);
        for (const { line } of tail) io.err(`  ${line}`);
      }
    } else if (row.status !== 'succeeded' && !flags.json)
      io.err(`job ${row.status}: ${row.error ?? ''}`);
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
