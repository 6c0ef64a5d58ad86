// `anneal register`: a checkpoint trained on this machine becomes a model version on the
// control plane, so jobs can start from it (`--teacher VERSION`) and a search run from the
// command line of it can be registered (`anneal submit search --from`).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { CONFIG_FILE, MODEL_FILE, Model } from '@anneal/engine';
import { aliasSchema, modelNameSchema } from '@anneal/protocol';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { api, clientFlags, clientOptions, clientUsage, resolveClient } from '../client/config.ts';
import { projectNamed } from '../client/projects.ts';
import { ServerApi } from '../daemon/http.ts';
import type { Command } from './command.ts';

/** What `anneal train --out DIR` records of its flags, uploaded beside the checkpoint. */
const TRAINING_FILE = 'training.json';
/** Where the checkpoint goes in the run's artifacts: where a train job's latest one goes. */
const PREFIX = 'checkpoints/latest/';

const usage = `Usage: anneal register DIR --project NAME [options]

Registers a checkpoint on this machine (\`anneal train --out DIR\`, a distilled stage, \`anneal
import diffusers\`) as a model version on the control plane. A run of the project keeps
config.json, model.safetensors and training.json (when there is one, as the run's params); the
version points at it. Jobs then start from the version (\`anneal submit distill|search
--teacher VERSION\`), and \`anneal submit search --from\` registers a search run of it here.
The checkpoint is loaded once first, so a folder the engine cannot run is refused, named.

Options:
  --project NAME     the project (created when missing and the token may)
  --model NAME       the registered model (default: the folder's name); each call adds a version
  --alias A          point alias A (e.g. production) at the new version
  --description T    the version's description (default: where it was registered from)
  --json             print one JSON object (the last stdout line)
${clientUsage}
  -h, --help         show this help`;

const flagsSchema = z.object({
  project: z.string({ error: 'is required' }).min(1, 'is required'),
  model: modelNameSchema.optional(),
  alias: aliasSchema.optional(),
  description: z.string().max(2000).optional(),
  json: z.boolean().default(false),
  ...clientFlags,
});

/** training.json's flags as run params (scalars only), or none when it is absent. */
function trainingOf(dir: string): Record<string, string | number | boolean | null> | null {
  const file = join(dir, TRAINING_FILE);
  if (!existsSync(file)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${file}: not JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new AppError('BAD_REQUEST', `${file}: expected an object of training flags`);
  return Object.fromEntries(
    Object.entries(parsed).filter(
      (e): e is [string, string | number | boolean | null] =>
        e[1] === null || ['string', 'number', 'boolean'].includes(typeof e[1]),
    ),
  );
}

export const register: Command = {
  name: 'register',
  summary: 'register a checkpoint on this machine as a model version on the control plane',
  usage,
  async run(argv, io) {
    const [dirArg, ...rest] = argv;
    if (!dirArg || dirArg.startsWith('--'))
      throw new UsageError('DIR: the checkpoint folder to register is required');
    const flags = parseFlags(
      rest,
      {
        project: { type: 'string' },
        model: { type: 'string' },
        alias: { type: 'string' },
        description: { type: 'string' },
        json: { type: 'boolean' },
        ...clientOptions,
      },
      flagsSchema,
    );
    const dir = resolve(dirArg);
    const name = flags.model ?? basename(dir);
    const named = modelNameSchema.safeParse(name);
    if (!named.success)
      throw new UsageError(
        `--model: the folder's name "${name}" is not a model name (${named.error.issues[0]?.message}); pass --model NAME`,
      );
    // Loading checks every name and shape against config.json before anything is uploaded.
    const model = Model.load(dir);
    const parameters = model.parameterCount();
    const { preset, unet } = model.config;
    model.dispose();
    const training = trainingOf(dir);

    const client = resolveClient(flags);
    const project = await projectNamed(client, flags.project, { create: true });
    const dataset = training?.dataset;
    const run = await api<{ id: string }>(client, 'POST', `/projects/${project.id}/runs`, {
      name: `${name} (registered from ${basename(dir)})`,
      params: training ?? {},
      tags: { source: 'anneal register' },
      ...(dataset === 'mnist' || dataset === 'shapes' ? { datasetBuiltin: dataset } : {}),
    });
    const files = [CONFIG_FILE, MODEL_FILE, ...(training ? [TRAINING_FILE] : [])];
    let weights = '';
    try {
      const uploads = new ServerApi(client.server, client.token);
      for (const file of files) {
        const ref = await uploads.putArtifact(run.id, `${PREFIX}${file}`, join(dir, file));
        if (file === MODEL_FILE) weights = ref.sha256;
      }
    } catch (err) {
      // The run says what happened; no version points at a checkpoint that is not all there.
      await api(client, 'PATCH', `/runs/${run.id}`, { status: 'failed' }).catch(() => {});
      throw new AppError(
        'PRECONDITION_FAILED',
        `uploading ${dir} to run ${run.id}: ${(err as Error).message}`,
      );
    }
    await api(client, 'PATCH', `/runs/${run.id}`, { status: 'succeeded' });
    const version = await api<{ id: string; name: string; version: number }>(
      client,
      'POST',
      `/projects/${project.id}/models/${encodeURIComponent(name)}/versions`,
      {
        sourceRunId: run.id,
        artifactPath: `${PREFIX}${MODEL_FILE}`,
        description: flags.description ?? `registered from ${dir} by \`anneal register\``,
        metadata: {
          architecture: {
            ...(preset ? { preset } : {}),
            resolution: unet.sample_size,
            parameters,
          },
          ...(typeof training?.steps === 'number' ? { steps: training.steps } : {}),
        },
        aliases: flags.alias ? [flags.alias] : [],
      },
    );
    if (flags.json)
      io.out(
        JSON.stringify({
          id: version.id,
          model: version.name,
          version: version.version,
          project: project.name,
          run_id: run.id,
          weights_sha256: weights,
        }),
      );
    else
      io.out(
        `registered ${version.name} v${version.version} (${version.id}) in ${project.name}: ${parameters.toLocaleString('en-US')} parameters, weights sha256 ${weights.slice(0, 12)}, run ${run.id}`,
      );
    return 0;
  },
};
