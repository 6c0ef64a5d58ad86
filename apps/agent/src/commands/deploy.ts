// `anneal deploy` and `anneal generate`: deployments on the control plane from the command
// line, through its REST API (docs/serving.md).
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { samplerSchema } from '@anneal/engine';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import {
  api,
  type Client,
  clientFlags,
  clientOptions,
  clientUsage,
  resolveClient,
} from '../client/config.ts';
import { projectNamed } from '../client/projects.ts';
import type { Command } from './command.ts';

interface DeploymentRow {
  id: string;
  name: string;
  model: string;
  version: number;
  alias: string | null;
  status: string;
  detail: string | null;
}

const deployUsage = `Usage: anneal deploy --project NAME --model NAME (--alias A | --version N) [options]
       anneal deploy --stop DEPLOYMENT_ID

Deploys a registered model to the agents that serve: each replica keeps it loaded and answers
\`anneal generate\` and POST /api/v1/deployments/ID/generate. Following an alias, moving the
alias redeploys without dropping requests.

Options:
  --project NAME     the project (required)
  --model NAME       the registered model (required)
  --alias A          follow this alias (e.g. production), or
  --version N        serve this version
  --name NAME        the deployment's name (default: the model's, lowercased)
  --replicas N       replicas, one per agent (default 1)
  --queue-limit N    requests that may wait before more are refused with 429 (default 16)
  --sampler S, --steps N
                     the sampling served to requests that name none (default: the model's)
  --plan             serve the version's saved plan instead: each replica samples as the plan
                     chosen for its machine says (\`anneal submit plan\`; not with --sampler/--steps)
  --wait             wait until a replica serves
  --stop ID          stop a deployment: its replicas unload
  --json             machine output: the deployment as JSON (the last stdout line)
${clientUsage}
  -h, --help         show this help`;

export const deploy: Command = {
  name: 'deploy',
  summary: 'serve a registered model from the agents (or --stop a deployment)',
  usage: deployUsage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        ...clientOptions,
        project: { type: 'string' },
        model: { type: 'string' },
        alias: { type: 'string' },
        version: { type: 'string' },
        name: { type: 'string' },
        replicas: { type: 'string' },
        'queue-limit': { type: 'string' },
        sampler: { type: 'string' },
        steps: { type: 'string' },
        plan: { type: 'boolean' },
        wait: { type: 'boolean' },
        stop: { type: 'string' },
        json: { type: 'boolean' },
      },
      z.object({
        ...clientFlags,
        project: z.string().min(1).optional(),
        model: z.string().min(1).optional(),
        alias: z.string().min(1).optional(),
        version: z.coerce.number().int().min(1).optional(),
        name: z.string().min(1).optional(),
        replicas: z.coerce.number().int().min(1).max(16).default(1),
        'queue-limit': z.coerce.number().int().min(0).default(16),
        sampler: samplerSchema.optional(),
        steps: z.coerce.number().int().min(1).max(1000).optional(),
        plan: z.boolean().default(false),
        wait: z.boolean().default(false),
        stop: z.uuid().optional(),
        json: z.boolean().default(false),
      }),
    );
    const client = resolveClient(flags);
    const say = (d: DeploymentRow) =>
      flags.json
        ? io.out(JSON.stringify(d))
        : io.out(
            `${d.name} (${d.id}): ${d.status}, ${d.model} v${d.version}${d.alias ? ` (${d.alias})` : ''}${d.detail ? `: ${d.detail}` : ''}`,
          );
    if (flags.stop) {
      say(await api<DeploymentRow>(client, 'POST', `/deployments/${flags.stop}/stop`));
      return 0;
    }
    if (!flags.project) throw new UsageError('--project: is required');
    if (!flags.model) throw new UsageError('--model: is required');
    if ((flags.alias === undefined) === (flags.version === undefined))
      throw new UsageError('give exactly one of --alias and --version');
    const project = await projectNamed(client, flags.project, { create: false });
    let d = await api<DeploymentRow>(client, 'POST', `/projects/${project.id}/deployments`, {
      name: flags.name ?? flags.model.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
      model: flags.model,
      ...(flags.alias ? { alias: flags.alias } : { version: flags.version }),
      replicas: flags.replicas,
      queueLimit: flags['queue-limit'],
      sampling: {
        ...(flags.sampler ? { sampler: flags.sampler } : {}),
        ...(flags.steps ? { steps: flags.steps } : {}),
        ...(flags.plan ? { plan: true } : {}),
      },
    });
    while (flags.wait && d.status === 'pending') {
      if (!flags.json) io.err(`waiting: ${d.detail ?? 'pending'}`);
      await new Promise((r) => setTimeout(r, 1000));
      d = await api<DeploymentRow>(client, 'GET', `/deployments/${d.id}`);
    }
    say(d);
    return 0;
  },
};

const generateUsage = `Usage: anneal generate --deployment ID --out FILE.png [options]

Generates with a deployment: one PNG (n > 1: the images as one grid). A request refused
because the deployment's queue is full (429) is retried after the Retry-After the server
sends, up to --retries times.

Options:
  --deployment ID    the deployment (required)
  --out FILE.png     where the PNG goes (required)
  --n N              images (default 1, at most 64)
  --seed N           noise seed (default: the server picks one and prints it)
  --class K          class label for a class-conditional model
  --sampler S, --steps N, --guidance W
                     override the deployment's sampling
  --plan             sample as the version's saved plan for the replica's machine
  --retries N        retries after a 429 (default 3)
  --json             machine output: request id, seed, replica, version, timings, image URLs
${clientUsage}
  -h, --help         show this help`;

interface Generated {
  requestId: string;
  seed: number;
  sampler: string;
  steps: number;
  latencyMs: number;
  images: { url: string; sha256: string }[];
  grid: { url: string } | null;
}

async function download(client: Client, path: string): Promise<Buffer> {
  const res = await fetch(`${client.server.replace(/\/$/, '')}${path}`, {
    headers: { authorization: `Bearer ${client.token}` },
  });
  if (!res.ok) throw new AppError('BAD_REQUEST', `GET ${path}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

export const generate: Command = {
  name: 'generate',
  summary: 'generate images with a deployment',
  usage: generateUsage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        ...clientOptions,
        deployment: { type: 'string' },
        out: { type: 'string' },
        n: { type: 'string' },
        seed: { type: 'string' },
        class: { type: 'string' },
        sampler: { type: 'string' },
        steps: { type: 'string' },
        guidance: { type: 'string' },
        plan: { type: 'boolean' },
        retries: { type: 'string' },
        json: { type: 'boolean' },
      },
      z.object({
        ...clientFlags,
        deployment: z.uuid({ error: 'is required (a deployment id)' }),
        out: z.string({ error: 'is required' }).regex(/\.png$/i, 'must end in .png'),
        n: z.coerce.number().int().min(1).max(64).default(1),
        seed: z.coerce.number().int().min(0).optional(),
        class: z.coerce.number().int().min(0).optional(),
        sampler: samplerSchema.optional(),
        steps: z.coerce.number().int().min(1).max(1000).optional(),
        guidance: z.coerce.number().min(0).max(50).optional(),
        plan: z.boolean().optional(),
        retries: z.coerce.number().int().min(0).max(100).default(3),
        json: z.boolean().default(false),
      }),
    );
    const client = resolveClient(flags);
    const body = Object.fromEntries(
      Object.entries({
        n: flags.n,
        seed: flags.seed,
        class: flags.class,
        sampler: flags.sampler,
        steps: flags.steps,
        guidance: flags.guidance,
        plan: flags.plan,
      }).filter(([, v]) => v !== undefined),
    );
    const url = `${client.server.replace(/\/$/, '')}/api/v1/deployments/${flags.deployment}/generate/json`;
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${client.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json().catch(() => null)) as
        | (Generated & { error?: { message: string } })
        | null;
      if (res.status === 429 && attempt < flags.retries) {
        const wait = Number(res.headers.get('retry-after') ?? '1');
        io.err(`queue full, retrying in ${wait} s (${json?.error?.message ?? 'HTTP 429'})`);
        await new Promise((r) => setTimeout(r, wait * 1000));
        continue;
      }
      if (!res.ok || !json)
        throw new AppError(
          res.status === 503 ? 'UNAVAILABLE' : 'BAD_REQUEST',
          `generate: HTTP ${res.status}: ${json?.error?.message ?? 'no answer'}`,
        );
      const out = resolve(flags.out);
      const source = json.grid?.url ?? json.images[0]?.url;
      if (!source) throw new AppError('INTERNAL', 'generate: the answer has no image');
      writeFileSync(out, await download(client, source));
      if (flags.json) io.out(JSON.stringify({ ...json, out }));
      else
        io.out(
          `wrote ${flags.n} image${flags.n === 1 ? '' : 's'} to ${out} (seed ${json.seed}, ${json.sampler} ${json.steps} steps, ${json.latencyMs.toFixed(0)} ms)`,
        );
      return 0;
    }
  },
};
