import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { materializeBuckets } from '@anneal/datasets/shards';
import {
  anyRank,
  applyMemoryLimits,
  CONFIG_FILE,
  defaultDtype,
  defaultLearningRate,
  groupSum,
  Model,
  type ModelConfig,
  parseModelConfig,
  planBatch,
  presetUNet,
  probeHardware,
  type ResolutionStage,
  resolutionStages,
  resolveMemoryBudget,
  type StepReport,
  stageOfStep,
  TRAINER_STATE_FILE,
  TRAINING_DEFAULTS,
  Trainer,
  type TrainingBucket,
} from '@anneal/engine';
import type { WarningEvent } from '@anneal/protocol';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { prepareDataset, prepareDatasetRef } from '../dataset.ts';
import { formatBytes } from '../format.ts';
import { ProgressBar } from '../progress.ts';
import type { Command, CommandIO } from './command.ts';
import { trainJobFlagsSchema, trainJobOptions, trainJobUsage } from './train-flags.ts';
import {
  agreeAcrossRanks,
  fingerprint,
  joinRanks,
  launchRanks,
  localShare,
  RANK_AGREE_EVERY,
} from './train-ranks.ts';
import { sampleGridSettings, truncateSampleIndex, writeSampleGrid } from './train-samples.ts';

const usage = `Usage: anneal train --dataset D --resolution N --steps N --out DIR [options]

Trains a diffusion U-Net natively on MLX and writes DIR/model.safetensors (EMA weights),
DIR/config.json, DIR/trainer-state.safetensors (exact resume), DIR/metrics.jsonl and
DIR/stages.jsonl (one line per sitting: steps, wall time, machine, arguments) and sample
grids of the EMA weights in DIR/samples (see --sample-every).
The job flags are the same as \`anneal submit train\`'s.

${trainJobUsage}

Here only:
  --out DIR            checkpoint folder (required)
  --model-config FILE  a config.json (as written by anneal) instead of a preset
  --attention A        softmax | linear (default: the --model-config's, else softmax; one
                       that contradicts the --model-config is refused): linear attention is
                       a different model (O(N) in the tokens), recorded in config.json; it
                       has no diffusers counterpart. Softmax attention runs fused or
                       query-sliced, whichever fits the memory budget, on its own. Not a
                       control-plane job flag: a job trains the preset's softmax model.
  --memory-budget B    fraction of the working set (0.6) or a size (12GiB)
  --no-accumulation    refuse a batch that does not fit the memory budget in one pass
                       instead of accumulating the gradients of smaller micro-batches
  --resume             continue from DIR's trainer state (same seed and config)
  --hostfile FILE, --rank R
                       one rank of a group on several machines (MLX's ring backend): FILE is
                       MLX's hostfile, a JSON list with one ["host:port"] per rank; start the
                       same command on each machine with its own --rank (docs/distributed.md)
  --strict             folder import: fail on any unreadable image instead of skipping it
  --json               machine output; the last stdout line is a JSON summary
  --events             with --json: also a JSON line per logged step and per checkpoint
                       (the agent's job runner reads these)
  -h, --help           show this help`;

const flagsSchema = trainJobFlagsSchema.extend({
  steps: z.coerce.number({ error: 'is required' }).int().min(1),
  out: z.string({ error: 'is required' }).min(1),
  'model-config': z.string().optional(),
  attention: z.enum(['softmax', 'linear']).optional(),
  'memory-budget': z.string().optional(),
  'no-accumulation': z.boolean().default(false),
  resume: z.boolean().default(false),
  hostfile: z.string().min(1).optional(),
  rank: z.coerce.number().int().min(0).max(1023).optional(),
  strict: z.boolean().default(false),
  json: z.boolean().default(false),
  events: z.boolean().default(false),
});

const options = {
  ...trainJobOptions,
  out: { type: 'string' },
  'model-config': { type: 'string' },
  attention: { type: 'string' },
  'memory-budget': { type: 'string' },
  'no-accumulation': { type: 'boolean' },
  resume: { type: 'boolean' },
  hostfile: { type: 'string' },
  rank: { type: 'string' },
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
  events: { type: 'boolean' },
} as const;

/**
 * Milliseconds one all_sum of `count` float32s takes across the group: the faster of two
 * (the first also pays for setting the buffers up). A collective.
 */
function probeAllSum(count: number): number {
  const values = new Float32Array(count);
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    groupSum(values);
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/** Keeps metrics.jsonl free of duplicates on resume: drops lines past the resumed step. */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        return (JSON.parse(line) as { step: number }).step <= step;
      } catch {
        return false;
      }
    });
  writeFileSync(path, kept.length ? `${kept.join('\n')}\n` : '');
}

/** The files of one checkpoint: what a re-leased job needs to resume exactly. */
export const CHECKPOINT_FILES = ['config.json', 'model.safetensors', TRAINER_STATE_FILE] as const;
/** One JSON line per `anneal train` sitting on this folder: steps, wall time, machine, argv. */
export const STAGES_FILE = 'stages.jsonl';

/**
 * Copies the checkpoint just written into `DIR/snapshots/step-N`, so an agent can upload
 * it while training goes on and overwrites DIR's own files.
 */
function snapshotCheckpoint(out: string, step: number) {
  const dir = join(out, 'snapshots', `step-${step}`);
  mkdirSync(dir, { recursive: true });
  for (const file of CHECKPOINT_FILES) copyFileSync(join(out, file), join(dir, file));
  return { event: 'checkpoint', step, dir, files: [...CHECKPOINT_FILES] };
}

export const train: Command = {
  name: 'train',
  summary: 'train a diffusion model on a dataset, natively on MLX',
  usage,
  async run(argv, io) {
    const flags = parseFlags(argv, options, flagsSchema);
    if (flags.ranks !== undefined) {
      if (flags.resolutions || flags['multi-resolution'])
        throw new UsageError(
          '--ranks: data-parallel training takes one resolution (not --resolutions or --multi-resolution)',
        );
      return launchRanks(argv, flags.ranks, io);
    }
    if (flags.hostfile !== undefined && (flags.resolutions || flags['multi-resolution']))
      throw new UsageError(
        '--hostfile: data-parallel training takes one resolution (not --resolutions or --multi-resolution)',
      );
    const out = resolve(flags.out);
    const started = Date.now();
    const inGroup = flags.hostfile !== undefined || flags.rank !== undefined;
    // A rank stops only at a step the group agrees on, so its handlers go in before anything
    // else: a signal while it prepares is a request, not its end (a terminal's Ctrl-C reaches
    // the launcher and every rank alike, and the launcher forwards it once more).
    let stopAsked = false;
    let stopNow: (() => void) | null = null;
    const onSignal = () => {
      stopAsked = true;
      stopNow?.();
    };
    const listen = inGroup ? process.on.bind(process) : process.once.bind(process);
    listen('SIGINT', onSignal);
    listen('SIGTERM', onSignal);
    try {
      return await trainRun(flags, argv, io, out, started, {
        asked: () => stopAsked,
        onStop: (f) => {
          stopNow = f;
        },
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

interface StopRequests {
  /** A signal asked this process to stop. */
  asked(): boolean;
  /** What a signal does at once (a lone process cancels its trainer; a rank waits). */
  onStop(f: () => void): void;
}

async function trainRun(
  flags: z.infer<typeof flagsSchema>,
  argv: readonly string[],
  io: CommandIO,
  out: string,
  started: number,
  stop: StopRequests,
): Promise<number> {
  const hasState = existsSync(join(out, TRAINER_STATE_FILE));
  // Checked before joining a group: a rank that cannot start says so before the others wait.
  if (hasState && !flags.resume) {
    throw new AppError(
      'CONFLICT',
      `${out} already holds a training run; pass --resume to continue it, or choose another --out`,
    );
  }
  if (flags.resume && !hasState)
    throw new AppError('NOT_FOUND', `--resume: no ${TRAINER_STATE_FILE} in ${out}`);
  const hw = probeHardware();
  // Ranks started together on this machine (--ranks) share its memory.
  const budget = localShare(resolveMemoryBudget(flags['memory-budget']));
  applyMemoryLimits(budget);
  // Data-parallel: every rank trains; rank 0 (the lead) writes what the run leaves.
  const group = joinRanks(flags);
  const ranks = group?.size ?? 1;
  const lead = (group?.rank ?? 0) === 0;

  if ((flags.dataset === undefined) === (flags['dataset-ref'] === undefined))
    throw new AppError('BAD_REQUEST', '--dataset: give exactly one of --dataset or --dataset-ref');
  // --resolutions ends at the model's resolution, so it stands in for --resolution.
  const resolution = flags.resolution ?? flags.resolutions?.at(-1);
  if (resolution === undefined) throw new UsageError('--resolution: is required');
  if (flags['stage-steps'] && !flags.resolutions)
    throw new UsageError('--stage-steps: only with --resolutions (steps per resolution)');
  const multi = flags['multi-resolution'] ?? false;
  if (multi && flags.resolutions)
    throw new UsageError(
      '--multi-resolution: give either --multi-resolution (aspect buckets at one pixel count) or --resolutions (a progressive curriculum), not both',
    );
  // The agent's child (--events) logs to stderr too: a failed job's last lines are its log.
  const narrate = !flags.json || flags.events;
  const prepare = async (r: number) => {
    if (narrate)
      io.err(`preparing dataset ${flags.dataset ?? flags['dataset-ref']} at ${r}x${r}...`);
    return flags['dataset-ref']
      ? await prepareDatasetRef(flags['dataset-ref'], r)
      : await prepareDataset(flags.dataset as string, r, io, { strict: flags.strict });
  };
  const data = await prepare(resolution);
  const conditional = !flags.unconditional && data.classes.length > 0;

  let config: ModelConfig;
  if (flags['model-config']) {
    const path = resolve(flags['model-config']);
    if (!existsSync(path))
      throw new AppError('NOT_FOUND', `--model-config: ${path} does not exist`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new AppError(
        'BAD_REQUEST',
        `--model-config: ${path} is not valid JSON (${(err as Error).message})`,
      );
    }
    config = parseModelConfig(raw, `--model-config ${path}`);
  } else {
    config = parseModelConfig({
      preset: flags.preset,
      unet: presetUNet(flags.preset, {
        resolution,
        channels: data.channels,
        numClasses: conditional ? data.classes.length : undefined,
      }),
      parameterization: flags.parameterization,
    });
  }
  if (config.unet.sample_size !== resolution || config.unet.in_channels !== data.channels) {
    throw new AppError(
      'BAD_REQUEST',
      `--model-config: the model takes ${config.unet.sample_size}x${config.unet.sample_size}x${config.unet.in_channels} images, the dataset gives ${resolution}x${resolution}x${data.channels}`,
    );
  }
  const configured = config.unet.linear_attention ? 'linear' : 'softmax';
  if (flags.attention && flags['model-config'] && flags.attention !== configured)
    throw new AppError(
      'BAD_REQUEST',
      `--attention ${flags.attention}: --model-config ${flags['model-config']} has ` +
        `${configured} attention; drop --attention or pass --attention ${configured}`,
    );
  if (flags.attention === 'linear')
    config = { ...config, unet: { ...config.unet, linear_attention: true } };
  // Softmax and linear attention share their weights' names and shapes, so a state of one
  // would load into the other: refuse to resume across them, naming the flag to pass
  // (Trainer.resume refuses it too, for any caller).
  const previous = join(out, CONFIG_FILE);
  if (flags.resume && existsSync(previous)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(previous, 'utf8'));
    } catch (err) {
      throw new AppError('BAD_REQUEST', `--resume: ${previous}: ${(err as Error).message}`);
    }
    const was = parseModelConfig(raw, `--resume ${previous}`).unet.linear_attention
      ? 'linear'
      : 'softmax';
    if (was !== (config.unet.linear_attention ? 'linear' : 'softmax'))
      throw new AppError(
        'BAD_REQUEST',
        `--attention: ${out} was trained with ${was} attention; ` +
          `resume it with --attention ${was}`,
      );
  }
  let stages: ResolutionStage[] | null = null;
  if (flags.resolutions) {
    try {
      stages = resolutionStages({
        resolution,
        steps: flags.steps,
        resolutions: flags.resolutions,
        stageSteps: flags['stage-steps'],
        factor: 2 ** (config.unet.block_out_channels.length - 1),
      });
    } catch (err) {
      throw new UsageError(`--${(err as Error).message.replace(/^stage_steps/, 'stage-steps')}`);
    }
  }
  // The schedule shift: on by default for progressive runs, based at their lowest
  // resolution (the schedule as designed there, shifted above it); off for one resolution
  // unless asked, and then based at that resolution (shift 1 until sampled elsewhere).
  const shift =
    flags['schedule-shift'] ??
    (stages !== null || multi || config.schedule.shift_base !== undefined);
  if (shift && config.parameterization === 'edm')
    throw new UsageError(
      '--schedule-shift: the resolution shift applies to eps, v and x0 models; EDM draws its sigmas log-normally',
    );
  const { shift_base: _, ...schedule } = config.schedule;
  // A --model-config copied from a multi-resolution run keeps its architecture, not its buckets
  // (this run's are recorded below when it has them).
  const { buckets: _buckets, ...unbucketed } = config;
  config = {
    ...unbucketed,
    schedule: shift
      ? {
          ...schedule,
          shift_base: config.schedule.shift_base ?? stages?.[0]?.resolution ?? resolution,
        }
      : schedule,
    ...(stages ? { resolutions: stages.map((s) => s.resolution) } : {}),
    dataset: {
      name: data.name,
      hash: data.hash,
      resolution,
      channels: data.channels,
      num_classes: conditional ? data.classes.length : 0,
      ref: data.ref,
    },
  };

  const batch = flags.batch ?? TRAINING_DEFAULTS.batch;
  if (batch % ranks !== 0)
    throw new UsageError(`--batch: ${batch} does not split evenly into ${ranks} ranks`);
  // Multi-resolution: the version's aspect buckets (a bucket needs a whole batch of training
  // images), recorded in config.json so evaluation and sampling find the same shapes.
  let aspectBuckets: Awaited<ReturnType<typeof materializeBuckets>> | undefined;
  if (multi) {
    if (narrate)
      io.err(`sorting ${data.name} into aspect buckets of about ${resolution}^2 pixels...`);
    const sorting = {
      target: resolution,
      factor: 2 ** (config.unet.block_out_channels.length - 1),
      min_count: batch,
    };
    aspectBuckets = await materializeBuckets(data.ref, {
      target: sorting.target,
      factor: sorting.factor,
      minCount: sorting.min_count,
    });
    config = {
      ...config,
      buckets: {
        ...sorting,
        shapes: aspectBuckets.map((b) => ({ height: b.height, width: b.width })),
      },
    };
    if (narrate)
      io.err(
        `buckets: ${aspectBuckets.map((b) => `${b.height}x${b.width} (${b.manifest.splits.train.count})`).join(', ')}`,
      );
  }

  const model = Model.create(config, flags.seed);
  const dtype = flags.dtype ?? defaultDtype(hw);
  // --batch is the effective batch; the planner splits it (each rank's share of it, when
  // data-parallel) into micro-batches when the whole would not fit, and refuses (before
  // anything starts) when one image cannot.
  const plan = planBatch({
    unet: config.unet,
    resolution,
    batch: batch / ranks,
    budget,
    dtype,
    accumulation: !flags['no-accumulation'],
  });
  // What the trainer is given, recorded in DIR/training.json: the agent's tests compare
  // it with the job spec, so a setting dropped on the way fails them.
  const training = {
    dataset: flags['dataset-ref'] ? JSON.parse(flags['dataset-ref']) : flags.dataset,
    dataset_hash: data.hash,
    resolution,
    ...(stages
      ? {
          resolutions: stages.map((s) => s.resolution),
          stage_steps: stages.map((s, i) => s.endStep - (stages[i - 1]?.endStep ?? 0)),
        }
      : {}),
    schedule_shift: shift,
    multi_resolution: multi,
    preset: config.preset ?? null,
    parameterization: config.parameterization,
    conditional,
    steps: flags.steps,
    batch,
    ...(group ? { ranks, backend: group.backend, batch_per_rank: batch / ranks } : {}),
    micro_batch: plan.microBatch,
    accumulation_steps: plan.accumulationSteps,
    lr: flags.lr ?? defaultLearningRate(config.preset),
    warmup: flags.warmup ?? null,
    lr_schedule: flags['lr-schedule'],
    min_lr: flags['min-lr'],
    loss_weighting: flags['loss-weighting'],
    min_snr_gamma: flags['min-snr-gamma'],
    cfg_dropout: flags['cfg-dropout'],
    ema_decay: flags['ema-decay'],
    grad_clip: flags['grad-clip'],
    seed: flags.seed,
    dtype,
    checkpoint_every: flags['checkpoint-every'],
    log_every: flags['log-every'],
    sample_every: flags['sample-every'],
  };
  if (training.lr_schedule === 'cosine' && training.min_lr > training.lr)
    throw new AppError(
      'BAD_REQUEST',
      `--min-lr: ${training.min_lr} is above the peak learning rate ${training.lr}; the cosine schedule decays from lr to min-lr`,
    );
  // Progressive: one bucket per stage, each the dataset materialized at its resolution
  // (the final stage's is the data prepared above). Multi-resolution: the version's aspect
  // buckets, all in one stage. Either way the batch of each bucket is bucketBatch's.
  let buckets: TrainingBucket[] | undefined;
  if (stages)
    buckets = await Promise.all(
      stages.map(async (s) => ({
        shards: s.resolution === resolution ? data.train : (await prepare(s.resolution)).train,
        height: s.resolution,
        width: s.resolution,
      })),
    );
  else if (aspectBuckets)
    buckets = aspectBuckets.map((b) => ({
      shards: b.manifest.splits.train.shards.map((f) => join(b.dir, f.file)),
      height: b.height,
      width: b.width,
    }));
  // Each bucket (a progressive stage's resolution, or an aspect bucket) keeps the effective
  // batch and takes its own micro-batches: the planner's answer for its height x width,
  // applied by the trainer whenever a step draws from it (so resume needs nothing more).
  if (buckets) {
    buckets = buckets.map((b) => {
      let p: ReturnType<typeof planBatch>;
      try {
        p = planBatch({
          unet: config.unet,
          resolution: { height: b.height, width: b.width },
          batch,
          budget,
          dtype,
          accumulation: !flags['no-accumulation'],
        });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        throw new AppError(err.code, `the ${b.height}x${b.width} bucket: ${err.message}`, {
          cause: err,
        });
      }
      return { ...b, accumulationSteps: p.accumulationSteps };
    });
    Object.assign(training, {
      bucket_plans: buckets.map((b) => ({
        height: b.height,
        width: b.width,
        micro_batch: batch / (b.accumulationSteps ?? 1),
        accumulation_steps: b.accumulationSteps ?? 1,
      })),
    });
  }
  const trainer = Trainer.create({
    model,
    ...(buckets
      ? {
          buckets,
          stages: stages?.map((s, i) => ({ endStep: s.endStep, buckets: [i] })),
        }
      : { shards: data.train }),
    numClasses: conditional ? data.classes.length : 0,
    batch,
    accumulationSteps: plan.accumulationSteps,
    dataParallel: group !== null,
    totalSteps: flags.steps,
    lr: training.lr,
    warmup: flags.warmup,
    lrSchedule: training.lr_schedule,
    minLr: training.min_lr,
    lossWeighting: training.loss_weighting,
    minSnrGamma: training.min_snr_gamma,
    cfgDropout: training.cfg_dropout,
    emaDecay: training.ema_decay,
    gradClip: training.grad_clip,
    seed: flags.seed,
    dtype,
    budget,
  });
  const metricsPath = join(out, 'metrics.jsonl');
  if (flags.resume) {
    trainer.resume(out);
    if (lead) {
      truncateMetrics(metricsPath, trainer.step);
      truncateSampleIndex(out, trainer.step, (line) => io.err(line));
    }
  }
  const startStep = trainer.step;
  const cost = model.cost();
  if (narrate) {
    io.err(
      `model ${config.preset ?? 'custom'}: ${(cost.parameters / 1e6).toFixed(2)}M parameters, ${(cost.forwardFlopsPerImage / 1e9).toFixed(2)} GFLOP/image forward; ` +
        `batch ${batch}${group ? ` over ${ranks} ranks (${batch / ranks} each; this is rank ${group.rank}, ${group.backend})` : ''}${plan.accumulationSteps > 1 ? ` (${plan.accumulationSteps} micro-batches of ${plan.microBatch}, gradients accumulated: the whole batch would not fit the budget)` : ''}, ${dtype}, ${conditional ? `${data.classes.length} classes` : 'unconditional'}, budget ${formatBytes(budget.bytes)}; attention ${trainer.attention.summary}` +
        (startStep > 0 ? `; resuming at step ${startStep}` : ''),
    );
    if (stages)
      io.err(
        `progressive resolution: ${stages.map((s, i) => `${s.resolution}px to step ${s.endStep}${i === stageOfStep(stages, startStep) ? ' (now)' : ''}`).join(', ')}`,
      );
  }

  mkdirSync(out, { recursive: true });
  if (lead) writeFileSync(join(out, 'training.json'), `${JSON.stringify(training, null, 2)}\n`);
  const bar = new ProgressBar(flags.steps, 'train');
  bar.start(startStep);
  const recent: number[] = [];
  let imagesPerS = 0;
  let lastReport: StepReport | undefined;
  let lastReportedStage: number | undefined;
  // Data-parallel, a signal is a request: the ranks stop together at the next boundary where
  // they agree (every RANK_AGREE_EVERY steps), since a rank that stopped alone would leave
  // the others waiting on it inside a step. A lone process cancels at once; a second signal
  // ends it (the handler was registered once).
  if (!group) {
    stop.onStop(() => trainer.cancel());
    if (stop.asked()) trainer.cancel();
  }
  let cancelled = false;
  const every = flags['checkpoint-every'];
  // Sample grids: at every checkpoint unless asked otherwise; 0 turns them off.
  const sampleEvery = flags['sample-every'] ?? every;
  const grids =
    sampleEvery > 0
      ? sampleGridSettings(out, {
          seed: flags.seed,
          size: resolution,
          classNames: conditional ? data.classes : null,
        })
      : null;
  if (group)
    agreeAcrossRanks(ranks, {
      step: trainer.step,
      seed: flags.seed,
      batch,
      steps: flags.steps,
      'checkpoint-every': every,
      'sample-every': sampleEvery,
      'dataset and model': fingerprint(`${data.hash}\n${JSON.stringify(config)}`),
    });
  // Data-parallel: what one all_sum of the gradient's size costs across the group, timed at
  // the start and at every checkpoint boundary (a collective: every rank times it at the
  // same steps); the logged comm_share is that over the step's time. The all_sum inside the
  // compiled step cannot be timed on its own, so this is a probe of the same size.
  let commMs = group ? probeAllSum(cost.parameters) : 0;
  const untilNext = (interval: number) => interval - (trainer.step % interval);
  try {
    // Run in chunks that end on checkpoint and sample boundaries: the native trainer is
    // idle between chunks, which is when its state can be written or its EMA sampled.
    while (trainer.step < flags.steps && !cancelled) {
      const chunk = Math.min(
        untilNext(every),
        grids ? untilNext(sampleEvery) : Number.POSITIVE_INFINITY,
        group ? untilNext(RANK_AGREE_EVERY) : Number.POSITIVE_INFINITY,
        flags.steps - trainer.step,
      );
      const run = trainer.run(chunk);
      while (true) {
        const next = await run.next();
        if (next.done) {
          cancelled = next.value.cancelled;
          break;
        }
        const r = next.value;
        lastReport = r;
        if (r.rolledBack) {
          io.err(
            `\nwarning: loss was not finite; rolled back to step ${r.restoredTo} and scaled the learning rate by ${r.lrScale}`,
          );
          if (lead)
            appendFileSync(
              metricsPath,
              `${JSON.stringify({ step: r.restoredTo, event: 'rollback', lr_scale: r.lrScale })}\n`,
            );
          continue;
        }
        recent.push(r.loss);
        if (recent.length > 50) recent.shift();
        imagesPerS =
          imagesPerS === 0 ? r.batch / r.seconds : 0.9 * imagesPerS + 0.1 * (r.batch / r.seconds);
        if (stages && r.stage !== lastReportedStage) {
          if (lastReportedStage !== undefined && narrate)
            io.err(
              `\nstage ${r.stage + 1}/${stages.length}: ${r.height}x${r.width} from step ${r.step}`,
            );
          lastReportedStage = r.stage;
        }
        if (r.step % flags['log-every'] === 0 || r.step === flags.steps) {
          const line = {
            step: r.step,
            loss: r.loss,
            lr: r.lr,
            grad_norm: r.gradNorm,
            images_per_s: imagesPerS,
            peak_memory_bytes: r.peakBytes,
            active_memory_bytes: r.activeBytes,
            wall_s: (Date.now() - started) / 1000,
            // The logged step's batch: its image side (and stage, in a progressive run).
            resolution: r.height,
            ...(r.width !== r.height ? { width: r.width } : {}),
            ...(stages ? { stage: r.stage } : {}),
            ...(group
              ? {
                  comm_ms: commMs,
                  comm_share: Math.min(1, commMs / (1000 * (r.batch / imagesPerS))),
                }
              : {}),
          };
          if (flags.events && lead)
            io.out(JSON.stringify({ event: 'metrics', total: flags.steps, ...line }));
          if (lead) appendFileSync(metricsPath, `${JSON.stringify(line)}\n`);
          if (!process.stderr.isTTY && narrate) {
            io.err(
              `step ${r.step}/${flags.steps} loss ${r.loss.toFixed(4)} ${imagesPerS.toFixed(1)} img/s`,
            );
          }
        }
        bar.update(r.step, `loss ${r.loss.toFixed(4)} ${imagesPerS.toFixed(1)} img/s`);
      }
      if (group && !cancelled) cancelled = anyRank(stop.asked());
      if (group && !cancelled && trainer.step % every === 0 && trainer.step < flags.steps)
        commMs = probeAllSum(cost.parameters);
      const atEnd = trainer.step === flags.steps;
      if (lead && (cancelled || atEnd || trainer.step % every === 0)) {
        trainer.saveCheckpoint(out, config);
        if (flags.events) io.out(JSON.stringify(snapshotCheckpoint(out, trainer.step)));
      }
      // After the checkpoint, and never fatal: a grid is a view of the training, and a
      // sampler error or a full disk must not cost the run its steps.
      if (lead && grids && !cancelled && (trainer.step % sampleEvery === 0 || atEnd)) {
        try {
          const event = await writeSampleGrid(trainer, out, grids, (Date.now() - started) / 1000);
          if (flags.events) io.out(JSON.stringify(event));
        } catch (err) {
          const message = `sample grid at step ${trainer.step} failed: ${(err as Error).message}; training goes on`;
          io.err(`warning: ${message}`);
          if (flags.events)
            io.out(JSON.stringify({ event: 'warning', message } satisfies WarningEvent));
        }
      }
    }
  } finally {
    bar.done();
  }
  if (trainer.step === startStep && lead) {
    trainer.saveCheckpoint(out, config);
    if (flags.events) io.out(JSON.stringify(snapshotCheckpoint(out, trainer.step)));
  }
  // One line per sitting: what ran where. A teacher trained in stages (a laptop, then a
  // GPU box) has a card that can say which machine trained which steps.
  if (lead)
    appendFileSync(
      join(out, STAGES_FILE),
      `${JSON.stringify({
        ...(group ? { ranks, backend: group.backend } : {}),
        from_step: startStep,
        to_step: trainer.step,
        total_steps: flags.steps,
        wall_s: (Date.now() - started) / 1000,
        started_at: new Date(started).toISOString(),
        cancelled,
        machine: {
          chip: hw.chip.name,
          cores: hw.cores.logical,
          memory_bytes: hw.memory.totalBytes,
          os: hw.os,
          backend: hw.backend,
          mlx: hw.mlxVersion,
          blas: hw.blas,
        },
        argv,
      })}\n`,
    );
  const finalLoss = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : Number.NaN;
  const summary = {
    steps: trainer.step,
    final_loss: finalLoss,
    wall_s: (Date.now() - started) / 1000,
    out,
    images_per_s: imagesPerS,
    parameters: cost.parameters,
    peak_memory_bytes: lastReport?.peakBytes ?? 0,
    // How attention ran: fused or sliced softmax, or the model's own linear attention.
    attention: config.unet.linear_attention ? { kind: 'linear' } : trainer.attention.exec,
    cancelled,
    ...(group ? { ranks, rank: group.rank } : {}),
  };
  if (flags.json) io.out(JSON.stringify(summary));
  else {
    io.out(
      `${cancelled ? 'stopped' : 'trained'} ${summary.steps} steps in ${summary.wall_s.toFixed(1)} s: loss ${finalLoss.toFixed(4)} (mean of the last ${recent.length}), ${imagesPerS.toFixed(1)} img/s, peak ${formatBytes(summary.peak_memory_bytes)}\ncheckpoint: ${out}`,
    );
  }
  model.dispose();
  return cancelled ? 130 : 0;
}
