// `anneal pipeline`: pipelines on the control plane from the command line, through its REST
// API (docs/pipelines.md): save one from a JSON file, run it with params and follow its nodes,
// look at a run, cancel it.
import { readFileSync } from 'node:fs';
import { AppError } from '@anneal/core/errors';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { api, type Client, resolveClient } from '../client/config.ts';
import { projectNamed } from '../client/projects.ts';
import type { Command, CommandIO } from './command.ts';

const usage = `Usage: anneal pipeline save --project NAME --name NAME --file SPEC.json [--description TEXT]
       anneal pipeline run --project NAME --name NAME [--param KEY=VALUE ...] [--wait]
       anneal pipeline status --run RUN_ID
       anneal pipeline cancel --run RUN_ID
       anneal pipeline list --project NAME

A pipeline is a DAG of nodes the server runs in order: job kinds (train, distill, evaluate,
sample, bench, plan), register (point an alias at a version) and deploy. Nodes read params
and earlier nodes' outputs (\${params.steps}, \${train.version_id}), may carry conditions
("when") and retries. docs/pipelines.md has the format.

  save     create the pipeline, or replace its spec if the project has one of that name
           (the project is created when it does not exist yet)
  run      start a run; --param sets a declared param (typed as its default), repeatable;
           --wait follows the nodes until the run ends (exit 1 unless it succeeded)
  status   a run and its nodes
  cancel   cancel a run and the jobs its nodes hold
  list     the project's pipelines and their last runs

Options:
  --json             machine output: the pipeline or run as JSON (the last stdout line)
  --server URL, --token T
                     as for \`anneal submit\` (flags, ANNEAL_SERVER/ANNEAL_TOKEN, \`anneal login\`,
                     the local server)
  -h, --help         show this help`;

interface Pipeline {
  id: string;
  name: string;
  spec: { params?: Record<string, string | number | boolean>; nodes: unknown[] };
  lastRun: { id: string; status: string; createdAt: string } | null;
}

interface PipelineRun {
  id: string;
  name: string;
  status: string;
  error: string | null;
  params: Record<string, unknown>;
  nodes: { key: string; kind: string; status: string; attempts: number; detail: string | null }[];
}

/** The project's id; `save` creates a missing project, as `anneal submit` does. */
async function projectId(
  client: Client,
  name: string,
  create: { io: CommandIO; quiet: boolean } | null,
): Promise<string> {
  const project = await projectNamed(client, name, { create: create !== null });
  if (project.created && create && !create.quiet) create.io.err(`created project ${name}`);
  return project.id;
}

async function pipelineNamed(client: Client, project: string, name: string) {
  const { pipelines } = await api<{ pipelines: Pipeline[] }>(
    client,
    'GET',
    `/projects/${project}/pipelines`,
  );
  return pipelines.find((p) => p.name === name) ?? null;
}

/** `KEY=VALUE` flags as the declared params' types: numbers, booleans or strings. */
export function parseParams(
  pairs: string[],
  declared: Record<string, string | number | boolean>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param: "${pair}" is not KEY=VALUE`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    if (!(key in declared))
      throw new UsageError(
        `--param: the pipeline declares no param "${key}"${Object.keys(declared).length ? ` (it has ${Object.keys(declared).join(', ')})` : ''}`,
      );
    const want = typeof declared[key];
    if (want === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n))
        throw new UsageError(`--param: ${key} is a number; got "${raw}"`);
      out[key] = n;
    } else if (want === 'boolean') {
      if (raw !== 'true' && raw !== 'false')
        throw new UsageError(`--param: ${key} is true or false; got "${raw}"`);
      out[key] = raw === 'true';
    } else out[key] = raw;
  }
  return out;
}

function describe(run: PipelineRun): string {
  const nodes = run.nodes
    .map(
      (n) =>
        `  ${n.key.padEnd(12)} ${n.kind.padEnd(9)} ${n.status}${n.attempts > 1 ? ` (attempt ${n.attempts})` : ''}${n.detail ? `: ${n.detail}` : ''}`,
    )
    .join('\n');
  return `${run.name} run ${run.id}: ${run.status}${run.error ? ` (${run.error})` : ''}\n${nodes}`;
}

/** Polls the run until it ends, each node's change on stderr (stdout stays for the result). */
async function follow(client: Client, run: PipelineRun, io: CommandIO) {
  const seen = new Map<string, string>();
  const report = (r: PipelineRun) => {
    for (const n of r.nodes) {
      const line = `${n.status}${n.detail ? `: ${n.detail}` : ''}`;
      if (seen.get(n.key) !== line) io.err(`${n.key} (${n.kind}) ${line}`);
      seen.set(n.key, line);
    }
  };
  report(run);
  while (run.status === 'running') {
    await new Promise((r) => setTimeout(r, 1000));
    run = await api<PipelineRun>(client, 'GET', `/pipeline-runs/${run.id}`);
    report(run);
  }
  return run;
}

export const pipeline: Command = {
  name: 'pipeline',
  summary: 'save, run and follow pipelines on the control plane',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (!sub || !['save', 'run', 'status', 'cancel', 'list'].includes(sub))
      throw new UsageError(
        sub
          ? `unknown subcommand "${sub}": save, run, status, cancel or list`
          : 'a subcommand is required: save, run, status, cancel or list',
      );
    const flags = parseFlags(
      rest,
      {
        server: { type: 'string' },
        token: { type: 'string' },
        project: { type: 'string' },
        name: { type: 'string' },
        file: { type: 'string' },
        description: { type: 'string' },
        param: { type: 'string', multiple: true },
        run: { type: 'string' },
        wait: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      z.object({
        server: z.string().optional(),
        token: z.string().optional(),
        project: z.string().min(1).optional(),
        name: z.string().min(1).optional(),
        file: z.string().min(1).optional(),
        description: z.string().optional(),
        param: z.array(z.string()).default([]),
        run: z.uuid({ error: 'must be a pipeline run id' }).optional(),
        wait: z.boolean().default(false),
        json: z.boolean().default(false),
      }),
    );
    const need = <K extends 'project' | 'name' | 'file' | 'run'>(k: K) => {
      const v = flags[k];
      if (!v) throw new UsageError(`--${k}: is required for \`anneal pipeline ${sub}\``);
      return v as string;
    };
    const client = resolveClient(flags);
    const sayRun = (r: PipelineRun) => io.out(flags.json ? JSON.stringify(r) : describe(r));
    if (sub === 'status' || sub === 'cancel') {
      const path = `/pipeline-runs/${need('run')}${sub === 'cancel' ? '/cancel' : ''}`;
      sayRun(await api<PipelineRun>(client, sub === 'cancel' ? 'POST' : 'GET', path));
      return 0;
    }
    const project = await projectId(
      client,
      need('project'),
      sub === 'save' ? { io, quiet: flags.json } : null,
    );
    if (sub === 'list') {
      const { pipelines } = await api<{ pipelines: Pipeline[] }>(
        client,
        'GET',
        `/projects/${project}/pipelines`,
      );
      if (flags.json) io.out(JSON.stringify(pipelines));
      else
        for (const p of pipelines)
          io.out(
            `${p.name} (${p.id}): ${p.spec.nodes.length} nodes; last run ${p.lastRun ? `${p.lastRun.status} at ${p.lastRun.createdAt}` : 'none'}`,
          );
      return 0;
    }
    const name = need('name');
    if (sub === 'save') {
      const file = need('file');
      let spec: unknown;
      try {
        spec = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new UsageError(`--file: cannot read ${file} as JSON: ${(err as Error).message}`);
      }
      const existing = await pipelineNamed(client, project, name);
      const description = flags.description !== undefined ? { description: flags.description } : {};
      const saved = existing
        ? await api<Pipeline>(client, 'PUT', `/pipelines/${existing.id}`, { spec, ...description })
        : await api<Pipeline>(client, 'POST', `/projects/${project}/pipelines`, {
            name,
            spec,
            ...description,
          });
      io.out(
        flags.json
          ? JSON.stringify(saved)
          : `${existing ? 'updated' : 'created'} pipeline ${saved.name} (${saved.id}): ${saved.spec.nodes.length} nodes`,
      );
      return 0;
    }
    const found = await pipelineNamed(client, project, name);
    if (!found) throw new AppError('NOT_FOUND', `--name: no pipeline ${name} in ${flags.project}`);
    const params = parseParams(flags.param, found.spec.params ?? {});
    let run = await api<PipelineRun>(client, 'POST', `/pipelines/${found.id}/runs`, { params });
    if (!flags.json) io.err(`started ${name} run ${run.id}`);
    if (flags.wait) run = await follow(client, run, io);
    sayRun(run);
    return flags.wait && run.status !== 'succeeded' ? 1 : 0;
  },
};
