import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  aysSigmas,
  LEARNING_STATE_DIR,
  type LearnedSchedule,
  learnableSamplerNames,
  learnedRecord,
  learnedScheduleFile,
  learnScheduleResumable,
  Model,
  type ResumableLearnResult,
  readLearnedSchedule,
  stepsForNfe,
  writeFileAtomic,
} from '@anneal/engine';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { api, resolveClient } from '../client/config.ts';
import { isVersionId, modelVersionDir } from '../client/model-version.ts';
import { ProgressBar } from '../progress.ts';
import type { Command, CommandIO } from './command.ts';

const usage = `Usage: anneal schedule learn --model DIR|VERSION --sampler S --nfe K [options]
       anneal schedule show --model DIR|VERSION [--json]

learn  finds the K + 1 sigmas (the first the model's largest, the last 0) whose sampler
       endpoint best reproduces a high-NFE reference trajectory from the same noise, on a
       calibration batch: a dynamic program over the reference's grid (GITS-style), then
       coordinate descent over the log-sigmas on the sampler's true end-to-end error. It is
       scored on a held-out batch too, beside the hand-crafted schedules at the same NFE, and
       written to DIR/schedules/<sampler>-nfe<K>.json, which \`anneal sample --schedule learned\`
       and \`anneal eval --schedule learned\` then use. Errors are mean squared error per pixel
       (images in [-1, 1]) to the reference's endpoint. The reference runs are kept in
       DIR/schedules/learning and reused by every later learn against the same reference,
       noise and seeds; a stopped learn (Ctrl-C) continues where it stopped when run again.
  --model DIR|VERSION  checkpoint folder, or a registered model version id (downloaded once)
  --sampler S          ${learnableSamplerNames.join(' | ')} (deterministic samplers only)
  --nfe K              network evaluations per image (heun: odd, 2 * steps - 1)
  --n N                calibration images, and held-out images (default 64)
  --seed N             calibration noise seed (default 1000: the first 64 images \`anneal sample
                       --seed 1000\` draws; not sampling's default 0, so evaluations at seed 0 are
                       on other noise)
  --heldout-seed N     held-out noise seed (default 1001)
  --reference S:STEPS  reference trajectory (default heun:100, ~200 NFE; heun, euler or ddim)
  --initial S          the baseline it starts from: default | uniform | karras | exponential
                       (default: the sampler's default schedule)
  --sigma-max S        start at sigma S instead of the model's largest (kept by learning; as
                       \`anneal sample --sigma-max\`)
  --sweeps N           coordinate-descent sweeps (default 6; each runs the sampler 2(K-1) times)
  --class K            class label for a class-conditional model (default: cycle through classes)
  --guidance W         classifier-free guidance weight (default 1)
  --server URL, --token T
                       for --model VERSION: the server the version is downloaded from, and where
                       the learned schedule is stored (POST /model-versions/VERSION/schedules,
                       shown on the model page; the download brings only the checkpoint, so
                       elsewhere use the written file with --schedule FILE); defaults as for
                       \`anneal submit\` (ANNEAL_SERVER, ANNEAL_TOKEN, anneal login)
  --json               print the record as one JSON line

Baselines in the table: uniform (uniform in the VP table's timesteps), karras (rho 7),
exponential (log-linear), and ays: Align Your Steps' published 10-step list for SD 1.5, its
log-sigmas mapped affinely from SD's range [0.029, 14.6] onto this model's, then interpolated
log-linearly to K steps (the AYS authors' recipe for other step counts).

show   lists the learned schedules in DIR/schedules.

  -h, --help           show this help`;

const referenceSchema = z
  .string()
  .regex(/^(heun|euler|ddim):\d+$/, 'must be SAMPLER:STEPS with SAMPLER heun, euler or ddim')
  .transform((v) => {
    const [sampler, steps] = v.split(':');
    return { sampler: sampler as 'heun' | 'euler' | 'ddim', steps: Number(steps) };
  })
  .refine((r) => r.steps >= 2 && r.steps <= 10000, 'STEPS must be 2..10000');

const learnFlags = z.object({
  model: z.string({ error: 'is required' }).min(1),
  sampler: z.string({ error: 'is required' }).pipe(
    z.enum(learnableSamplerNames, {
      error: (i) =>
        `${String(i.input)} cannot have a learned schedule: use a deterministic sampler (${learnableSamplerNames.join(', ')}); ddpm and consistency are stochastic`,
    }),
  ),
  nfe: z.coerce.number({ error: 'is required' }).int().min(1).max(1000),
  n: z.coerce.number().int().min(1).max(4096).default(64),
  seed: z.coerce.number().int().min(0).default(1000),
  'heldout-seed': z.coerce.number().int().min(0).default(1001),
  reference: referenceSchema.default({ sampler: 'heun', steps: 100 }),
  initial: z.enum(['default', 'uniform', 'karras', 'exponential']).default('default'),
  sweeps: z.coerce.number().int().min(0).max(100).default(6),
  'sigma-max': z.coerce.number().positive().optional(),
  class: z.coerce.number().int().min(0).optional(),
  guidance: z.coerce.number().min(0).max(50).default(1),
  server: z.string().optional(),
  token: z.string().optional(),
  json: z.boolean().default(false),
});

const HAND_CRAFTED = ['uniform', 'karras', 'exponential'] as const;

/** A model folder from `--model DIR|VERSION`. */
async function modelDir(
  arg: string,
  client: { server?: string; token?: string } = {},
): Promise<{ dir: string; version?: string }> {
  if (!existsSync(arg) && isVersionId(arg))
    return {
      dir: await modelVersionDir(arg, '--model', process.env, client),
      version: arg.toLowerCase(),
    };
  return { dir: resolve(arg) };
}

const fmt = (v: number) => v.toExponential(3);

function scoreTable(r: LearnedSchedule): string {
  const rows: Array<[string, number, number]> = [
    ...(r.scores.hand_crafted ?? []).map(
      (h) => [h.schedule, h.train_error, h.heldout_error] as [string, number, number],
    ),
    ['learned', r.scores.learned.train_error, r.scores.learned.heldout_error],
  ];
  const best = Math.min(...(r.scores.hand_crafted ?? []).map((h) => h.heldout_error));
  const w = Math.max(...rows.map(([k]) => k.length), 'schedule'.length);
  const lines = [
    `${r.sampler}, ${r.steps} steps (${r.nfe} NFE); error = MSE to ${r.calibration.reference.sampler}:${r.calibration.reference.steps} from the same noise, n = ${r.calibration.n}`,
    `  ${'schedule'.padEnd(w)}  ${'train'.padStart(10)}  ${'held-out'.padStart(10)}`,
    ...rows.map(([k, t, h]) => `  ${k.padEnd(w)}  ${fmt(t).padStart(10)}  ${fmt(h).padStart(10)}`),
  ];
  if (Number.isFinite(best) && best > 0) {
    const change = 100 * (1 - r.scores.learned.heldout_error / best);
    lines.push(
      `held-out error vs the best hand-crafted: ${Math.abs(change).toFixed(1)}% ${change >= 0 ? 'lower' : 'higher'}`,
    );
  }
  lines.push(`sigmas: ${r.sigmas.map((s) => s.toPrecision(4)).join(', ')}`);
  return lines.join('\n');
}

async function learn(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(
    argv,
    {
      model: { type: 'string' },
      sampler: { type: 'string' },
      nfe: { type: 'string' },
      n: { type: 'string' },
      seed: { type: 'string' },
      'heldout-seed': { type: 'string' },
      reference: { type: 'string' },
      initial: { type: 'string' },
      sweeps: { type: 'string' },
      'sigma-max': { type: 'string' },
      class: { type: 'string' },
      guidance: { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean' },
    },
    learnFlags,
  );
  let steps: number;
  try {
    steps = stepsForNfe(flags.sampler, flags.nfe);
  } catch (err) {
    throw new UsageError(`--nfe: ${(err as Error).message}`);
  }
  if (steps > flags.reference.steps)
    throw new UsageError(
      `--nfe/--reference: ${flags.sampler} at ${flags.nfe} NFE takes ${steps} steps, more than the reference's ${flags.reference.steps}; use --nfe with at most ${flags.reference.steps} steps or a finer --reference (e.g. ${flags.reference.sampler}:${Math.max(100, steps)})`,
    );
  if (flags['heldout-seed'] === flags.seed)
    throw new UsageError(
      `--heldout-seed: must differ from --seed (both ${flags.seed}): equal seeds draw the same noise, so the held-out error would be the training error`,
    );
  const { dir, version } = await modelDir(flags.model, {
    server: flags.server,
    token: flags.token,
  });
  const model = Model.load(dir);
  const bars = new Map<string, ProgressBar>();
  let result: ResumableLearnResult;
  const { sigmaMin, sigmaMax } = model.sigmaRange();
  const start = flags['sigma-max'] ?? sigmaMax;
  if (!(start > sigmaMin && start <= sigmaMax)) {
    model.dispose();
    throw new UsageError(
      `--sigma-max: ${start} is outside this model's sigma range (${sigmaMin}, ${sigmaMax}]`,
    );
  }
  const ays = aysSigmas(steps, sigmaMin, start);
  const spec = {
    sampler: flags.sampler,
    nfe: flags.nfe,
    n: flags.n,
    seed: flags.seed,
    heldoutSeed: flags['heldout-seed'],
    reference: flags.reference,
    initial: flags.initial,
    sweeps: flags.sweeps,
    sigmaMax: flags['sigma-max'],
    class: flags.class,
    guidance: flags.guidance,
    compare: [...HAND_CRAFTED, ays],
  };
  // Ctrl-C stops learning after the reference step or sampler run in progress.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    result = await learnScheduleResumable(
      model,
      {
        ...spec,
        signal: abort.signal,
        onProgress: (p) => {
          let bar = bars.get(p.phase);
          if (!bar) {
            for (const b of bars.values()) b.done();
            bar = new ProgressBar(p.total, p.phase);
            bars.set(p.phase, bar);
          }
          bar.update(p.done, p.error ? `error ${fmt(p.error)}` : '');
        },
      },
      join(dir, LEARNING_STATE_DIR),
    );
    if (result.referenceReused)
      io.err(
        `${result.resumed ? 'continued from the checkpoint a stopped learn left; ' : ''}reference runs read from ${result.referenceFile}`,
      );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const b of bars.values()) b.done();
    model.dispose();
  }
  if (result.cancelled && result.evaluations === 0) {
    io.err('cancelled before learning began (during the reference runs); nothing written');
    return 130;
  }
  if (result.cancelled)
    io.err(
      'cancelled: keeping the best schedule found so far (scored on the held-out batch); the same command continues learning where it stopped',
    );
  const record = learnedRecord(spec, result, [...HAND_CRAFTED, 'ays'], version ?? dir);
  const file = join(dir, learnedScheduleFile(flags.sampler, record.nfe));
  mkdirSync(join(dir, 'schedules'), { recursive: true });
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  // A registry version: the schedule is stored on it too (metadata.schedules), where the model
  // page plots it. The version's download brings only the checkpoint, so other machines'
  // `--schedule learned` do not find it there: they take the file (--schedule FILE) or learn.
  if (version)
    await api(
      resolveClient({ server: flags.server, token: flags.token }),
      'POST',
      `/model-versions/${version}/schedules`,
      record,
    );
  if (flags.json)
    io.out(JSON.stringify({ ...record, file, ...(version ? { stored_on: version } : {}) }));
  else
    io.out(
      `${scoreTable(record)}\nwrote ${file}${version ? `; stored on model version ${version}` : ''}`,
    );
  return 0;
}

async function show(argv: string[], io: CommandIO): Promise<number> {
  const flags = parseFlags(
    argv,
    { model: { type: 'string' }, json: { type: 'boolean' } },
    z.object({
      model: z.string({ error: 'is required' }).min(1),
      json: z.boolean().default(false),
    }),
  );
  const { dir } = await modelDir(flags.model);
  const folder = join(dir, 'schedules');
  const files = existsSync(folder)
    ? readdirSync(folder)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];
  const records = files.map((f) => ({
    file: join(folder, f),
    ...readLearnedSchedule(join(folder, f)),
  }));
  if (flags.json) {
    io.out(JSON.stringify(records));
    return 0;
  }
  if (records.length === 0) {
    io.out(
      `no learned schedules in ${folder}; make one with: anneal schedule learn --model ${flags.model} --sampler S --nfe K`,
    );
    return 0;
  }
  for (const r of records) io.out(`${r.file}\n${scoreTable(r)}\n`);
  return 0;
}

export const schedule: Command = {
  name: 'schedule',
  summary: 'learn sampling schedules for a model (schedule learn, schedule show)',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === 'learn') return learn(rest, io);
    if (sub === 'show') return show(rest, io);
    throw new UsageError(
      sub ? `unknown subcommand "${sub}" (learn or show)` : 'expected learn or show',
    );
  },
};
