import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  extractorStepsSchema,
  extractorWidthSchema,
  Model,
  probeHardware,
  samplerNames,
  writeFileAtomic,
} from '@anneal/engine';
import {
  SEARCH_FULL_DEFAULTS,
  searchFullScheduleSchema,
  searchInheritSchema,
  searchRankText,
} from '@anneal/protocol';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { isVersionId, modelVersionDir } from '../client/model-version.ts';
import { profileKey } from '../plan/costs.ts';
import { weightsSha256 } from '../plan/weights.ts';
import { phaseProgress } from '../progress.ts';
import { modelDataset } from '../quality/model-dataset.ts';
import { proxyCorrelation } from '../search/correlation.ts';
import { changeFullTraining } from '../search/full.ts';
import { lockSearch } from '../search/lock.ts';
import { costModelLine, searchSummary, searchTable, winnersTable } from '../search/report.ts';
import { newSearchState, runSearch, type SearchProgress } from '../search/run.ts';
import { searchSpaceSchema } from '../search/space.ts';
import {
  measureDriftWarning,
  readSearchState,
  SEARCH_FILE,
  SEARCH_SUMMARY_FILE,
  type SearchState,
  searchSettingsSchema,
  writeSearchState,
} from '../search/state.ts';
import type { Command, CommandIO } from './command.ts';

const usage = `Usage: anneal search --teacher DIR|VERSION --out DIR [options]
       anneal search --resume --out DIR

Hardware-aware U-Net search: the smaller variants of the teacher's U-Net that run fastest on
THIS machine while keeping its quality. Every variant is a valid diffusers UNet2DModel
configuration (widths per level, layers per block, attention levels, mid-block attention, head
size, norm groups, fewer levels, softmax or linear attention).
  1. counts every candidate's work (FLOPs, saved activations, attention scores);
  2. measures the teacher and a sample spread over FLOPs on this device (latency per sampling
     step at batch 1 and per image at the throughput batch, a training step's time and peak
     memory; cached per hardware profile), fits a non-negative cost model on them and reports
     its leave-one-out error;
  3. keeps the candidates predicted within the latency limit, takes a pool spread from the
     largest down, and measures each for real (over the limit when measured: dropped);
  4. trains the pool as students of the teacher (started from its weights, narrowed to each
     candidate's channels; taught by the teacher's output, with the data loss at a small
     weight beside it, as BK-SDM weighs both) by successive halving: each
     rung trains the survivors eta times longer and keeps the best 1/eta by the proxy, the
     mean squared distance of their samples to the teacher's from the same noise at the
     search's sampler and steps;
  5. takes the Pareto front of (proxy, latency, training memory) with the teacher, trains the
     best --winners of it on to --full-iters, and measures each one's FD beside the
     teacher's (DIR/winners/NAME holds each one's weights and config);
  6. with --correlate N, trains more of the pool the same way, to say how well the proxy
     ranked them.
search.json in DIR keeps every measurement and decision; the state is saved after every
candidate and every --checkpoint-every training steps, so Ctrl-C (or a killed process) and
--resume lose at most that much. On a CPU, OPENBLAS_NUM_THREADS sets the threads measured,
and is part of the hardware profile (so a 1-thread and a 2-thread search may pick different
winners).

  --teacher DIR|VERSION  the teacher checkpoint (a registered version id is downloaded once)
  --out DIR              where the search keeps its state and the candidates' checkpoints
  --resume               continue the search in DIR (its settings are kept, but for
                         --correlate, --full-iters and --full-schedule; with --teacher, the
                         teacher's place when it moved: its weights must be the same). Once
                         its costs are measured it may continue on another machine: training
                         and scoring do not depend on the hardware
  --objective O          what speed means: latency (ms per sampling step at batch 1, the
                         default) or throughput (ms per image per step at the throughput batch)
  --latency-ms X         the limit, in the objective's ms, on this machine
  --speedup F            without --latency-ms: the teacher's measured ms / F (default 1.5)
  --space FILE           a JSON search space (default: widths x0.5/0.75/1 per level, 0 or 1
                         levels dropped, 1..teacher's layers per block, attention at the
                         teacher's levels / none / deepest, mid attention on/off, softmax or
                         linear); keys: widthScales, levelsDropped, layersPerBlock, attention,
                         midAttention, headDims, normGroups, attentionKinds
  --fit-sample N         candidates measured to fit the cost model, besides the teacher (default 12)
  --pool N               candidates that go on to the quality proxy (default 8)
  --throughput-batch N   the throughput batch measured (default 16)
  --train-batch N        the training batch measured (default 32)
  --sampler S            the proxy's sampler (default dpmpp-2m: the teacher card's headline)
  --steps N              the proxy's sampling steps (default 20)
  --proxy-n N            images the proxy compares (default 64)
  --first-iters N        the first rung's training iterations (default 100)
  --eta N                successive halving's factor (default 2)
  --rungs N              the most rungs (default 3)
  --batch N              the proxy training's batch (default 32)
  --lr X                 its learning rate (default 5e-4)
  --output-weight X      the teacher-output term's weight beside the data loss (default 100:
                         students learn almost only from the teacher's denoised predictions,
                         whose target has none of the data loss's noise; docs/search.md)
  --inherit I            how candidates start from the teacher: narrowed (its tensors of the
                         same names and shapes, and its leading channels where a candidate is
                         narrower; the default) or exact (the same names and shapes only)
  --winners N            the front's students (best proxy first) trained on and evaluated
                         (default 1; each more costs a full training, about 3 CPU-hours for the
                         MNIST teacher's on a 2-core Xeon)
  --full-iters N         their training iterations in total (default 5000)
  --full-schedule S      their learning rate past the rungs: cooldown (the rungs' rate,
                         decayed on a cosine to 0 over the last 20% of --full-iters; the
                         default), constant (the rungs' rate) or cosine (decays to 0 from the
                         last rung; on the MNIST search at 2,000 iterations it scored worse,
                         docs/search.md). Changed on --resume, the full trainings that differ
                         are done again (the earlier results stay in search.json), from where
                         they stopped when the new schedule carries on from there
  --correlate N          train N of the pool (the winners among them; the rest spread over
                         the first rung's proxy ranks) to --full-iters and evaluate each, and
                         report the proxy's Spearman rank correlation with their FD (default 0:
                         the winners only). Allowed with --resume, also on a finished search
  --eval-n N             images of their FD, and the teacher's, on one ruler at the proxy's
                         sampler and steps (default 1000; DESIGN.md's measure)
  --extractor-steps N    train the quality extractor for N steps instead of its default
  --extractor-width N    extractor channels N, 2N, 4N (default 16; a multiple of 8)
  --checkpoint-every N   training steps between saved states (default 50)
  --seed N               (default 0)
  --json                 print the final state's summary as one JSON line
  --events               progress as JSON lines on stdout (for the agent)
  -h, --help             show this help`;

const flagsSchema = z
  .object({
    teacher: z.string().min(1).optional(),
    out: z.string({ error: 'is required' }).min(1),
    resume: z.boolean().default(false),
    'latency-ms': z.coerce.number().positive().optional(),
    speedup: z.coerce.number().gt(1).default(1.5),
    objective: z.enum(['latency', 'throughput']).default('latency'),
    space: z.string().optional(),
    'fit-sample': z.coerce.number().int().min(3).max(200).default(12),
    pool: z.coerce.number().int().min(1).max(100).default(8),
    'throughput-batch': z.coerce.number().int().min(1).max(256).default(16),
    'train-batch': z.coerce.number().int().min(1).max(256).default(32),
    sampler: z.enum(samplerNames).default('dpmpp-2m'),
    steps: z.coerce.number().int().min(1).max(1000).default(20),
    'proxy-n': z.coerce.number().int().min(1).max(4096).default(64),
    'first-iters': z.coerce.number().int().min(1).default(100),
    eta: z.coerce.number().int().min(2).max(8).default(2),
    rungs: z.coerce.number().int().min(1).max(8).default(3),
    batch: z.coerce.number().int().min(1).max(1024).default(32),
    lr: z.coerce.number().positive().default(5e-4),
    'output-weight': z.coerce.number().nonnegative().default(100),
    inherit: searchInheritSchema.default('narrowed'),
    winners: z.coerce.number().int().min(0).max(16).default(SEARCH_FULL_DEFAULTS.winners),
    'full-iters': z.coerce.number().int().min(1).optional(),
    'full-schedule': searchFullScheduleSchema.optional(),
    correlate: z.coerce.number().int().min(0).max(100).optional(),
    'eval-n': z.coerce.number().int().min(2).max(50_000).default(1000),
    'extractor-steps': z.coerce.number().pipe(extractorStepsSchema).optional(),
    'extractor-width': z.coerce.number().pipe(extractorWidthSchema).optional(),
    'checkpoint-every': z.coerce.number().int().min(1).default(50),
    seed: z.coerce.number().int().min(0).default(0),
    json: z.boolean().default(false),
    events: z.boolean().default(false),
  })
  .refine((f) => f.resume || f.teacher, {
    path: ['teacher'],
    message: 'is required (or --resume)',
  });

function readSpace(path: string | undefined) {
  if (!path) return searchSpaceSchema.parse({});
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--space: ${path}: ${(err as Error).message}`);
  }
  const r = searchSpaceSchema.safeParse(raw);
  if (!r.success)
    throw new UsageError(
      `--space: ${path}: ${r.error.issues.map((i) => `${i.path.join('.') || 'space'}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/**
 * Progress bars (on a TTY; elsewhere a line per phase and minute, so a log file shows a
 * search of hours going on) and events, and the notes a search logs between them (on stderr).
 */
function progressFor(io: CommandIO, events: boolean): SearchProgress & { done(): void } {
  const log = process.stderr.isTTY ? undefined : { line: (l: string) => io.err(l) };
  const bars = phaseProgress((l) => io.out(l), events, log);
  return {
    update: bars.update,
    note(line) {
      bars.done();
      io.err(line);
    },
    done: bars.done,
  };
}

async function teacherDir(arg: string): Promise<string> {
  if (!existsSync(arg) && isVersionId(arg)) return modelVersionDir(arg, '--teacher');
  return resolve(arg);
}

export const search: Command = {
  name: 'search',
  summary: 'find smaller, faster U-Net variants of a teacher on this machine',
  usage,
  async run(argv, io) {
    const cpuSince = process.cpuUsage();
    const flags = parseFlags(
      argv,
      {
        teacher: { type: 'string' },
        out: { type: 'string' },
        resume: { type: 'boolean' },
        'latency-ms': { type: 'string' },
        speedup: { type: 'string' },
        objective: { type: 'string' },
        space: { type: 'string' },
        'fit-sample': { type: 'string' },
        pool: { type: 'string' },
        'throughput-batch': { type: 'string' },
        'train-batch': { type: 'string' },
        sampler: { type: 'string' },
        steps: { type: 'string' },
        'proxy-n': { type: 'string' },
        'first-iters': { type: 'string' },
        eta: { type: 'string' },
        rungs: { type: 'string' },
        batch: { type: 'string' },
        lr: { type: 'string' },
        'output-weight': { type: 'string' },
        inherit: { type: 'string' },
        winners: { type: 'string' },
        'full-iters': { type: 'string' },
        'full-schedule': { type: 'string' },
        correlate: { type: 'string' },
        'eval-n': { type: 'string' },
        'extractor-steps': { type: 'string' },
        'extractor-width': { type: 'string' },
        'checkpoint-every': { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        events: { type: 'boolean' },
      },
      flagsSchema,
    );
    const out = resolve(flags.out);
    const hardware = probeHardware();
    const profile = profileKey(hardware);
    const progress = progressFor(io, flags.events);
    let state: SearchState;
    let teacher: Model;
    // One process at a time in the folder (search/lock.ts), from before the state is written.
    let release = () => {};
    try {
      if (flags.resume) {
        state = readSearchState(out);
        release = lockSearch(out);
        if (state.profile !== profile) {
          // Costs belong to the machine that measured them; training and scoring do not.
          if (state.phase === 'measuring')
            throw new AppError(
              'CONFLICT',
              `${join(out, SEARCH_FILE)} is measuring hardware profile ${state.profile}, this process is ${profile}; resume it there with the same OPENBLAS_NUM_THREADS and OPENBLAS_THREAD_TIMEOUT (a profile without -blaswait: OPENBLAS_THREAD_TIMEOUT= , empty), or start a new search`,
            );
          io.err(
            `anneal search: the costs were measured on ${state.profile}; this ${profile} goes on with what does not depend on the hardware (training and scoring)`,
          );
          // Where it took over, once per profile.
          if (!state.continuedOn?.some((c) => c.profile === profile))
            state.continuedOn = [
              ...(state.continuedOn ?? []),
              { profile, phase: state.phase, at: new Date().toISOString() },
            ];
        }
        // A search moved with its folder (a clone elsewhere) names its teacher's new place.
        if (flags.teacher) state.teacher.dir = await teacherDir(flags.teacher);
        if (!existsSync(join(state.teacher.dir, 'model.safetensors')))
          throw new AppError(
            'NOT_FOUND',
            `the search's teacher ${state.teacher.dir} is not there; resume with --teacher DIR|VERSION naming where it is now`,
          );
        const weights = weightsSha256(state.teacher.dir);
        if (weights !== state.teacher.weights)
          throw new AppError(
            'CONFLICT',
            `the teacher in ${state.teacher.dir} has changed since the search started (weights ${weights.slice(0, 12)}, the search's ${state.teacher.weights.slice(0, 12)}); start a new search`,
          );
        teacher = Model.load(state.teacher.dir);
        // Only what comes after the halving may change on resume.
        if (flags.correlate !== undefined) state.settings.correlate = flags.correlate;
        const again = changeFullTraining(
          state,
          flags['full-iters'] ?? state.settings.fullIters,
          flags['full-schedule'] ?? state.settings.fullSchedule,
        );
        if (again.length > 0)
          io.err(
            `anneal search: full training is now ${state.settings.fullIters} iterations, ${state.settings.fullSchedule} schedule; trained again: ${again.join(', ')} (the earlier results stay in search.json as earlierFull)`,
          );
        // What the resume changed is on record before anything runs.
        writeSearchState(out, state);
      } else {
        if (existsSync(join(out, SEARCH_FILE)))
          throw new UsageError(
            `--out: ${out} already holds a search; continue it with --resume or choose another folder`,
          );
        const dir = await teacherDir(flags.teacher as string);
        teacher = Model.load(dir);
        const settings = searchSettingsSchema.parse({
          space: readSpace(flags.space),
          fitSample: flags['fit-sample'],
          latencyMs: flags['latency-ms'] ?? null,
          speedup: flags.speedup,
          objective: flags.objective,
          pool: flags.pool,
          throughputBatch: flags['throughput-batch'],
          trainBatch: flags['train-batch'],
          proxy: {
            sampler: flags.sampler,
            steps: flags.steps,
            n: flags['proxy-n'],
            batch: flags.batch,
            lr: flags.lr,
            emaDecay: 0.999,
            outputWeight: flags['output-weight'],
            inherit: flags.inherit,
            seed: flags.seed,
            checkpointEvery: flags['checkpoint-every'],
          },
          firstIters: flags['first-iters'],
          eta: flags.eta,
          rungs: flags.rungs,
          winners: flags.winners,
          fullIters: flags['full-iters'] ?? SEARCH_FULL_DEFAULTS.fullIters,
          fullSchedule: flags['full-schedule'] ?? SEARCH_FULL_DEFAULTS.fullSchedule,
          correlate: flags.correlate ?? 0,
          evalN: flags['eval-n'],
          extractor: { steps: flags['extractor-steps'], width: flags['extractor-width'] },
        });
        mkdirSync(out, { recursive: true });
        release = lockSearch(out);
        state = newSearchState(
          teacher,
          dir,
          weightsSha256(dir),
          profile,
          hardware,
          settings,
          progress,
        );
        writeSearchState(out, state);
      }
      let stop = false;
      const onSignal = () => {
        stop = true;
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const dataset = await modelDataset(teacher.config, `${state.teacher.dir}/config.json`);
        state = await runSearch(
          { teacher, dataset, out, hardware, progress, stopRequested: () => stop, cpuSince },
          state,
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        progress.done();
        teacher.dispose();
        // For people and `anneal bench --only search --runs DIR`: done, stopped or failed.
        writeFileAtomic(
          join(out, SEARCH_SUMMARY_FILE),
          `${JSON.stringify({ ...searchSummary(state), out }, null, 2)}\n`,
        );
      }
    } finally {
      release();
    }
    io.err(searchTable(state));
    const winners = winnersTable(state);
    if (winners) io.err(winners);
    const costModel = costModelLine(state);
    if (costModel) io.err(costModel);
    const drift = measureDriftWarning(state);
    if (drift) io.err(drift);
    const r = proxyCorrelation(state);
    if (r)
      io.err(
        `the proxy against FD after full training, over ${r.n} candidates: Spearman ${searchRankText(r.firstRung, r.spread?.firstRung)} at the first rung, ${searchRankText(r.full, r.spread?.full)} after full training${r.spread ? ` (intervals over ${r.spread.resamples} paired resamples of the FD evaluations)` : ''}`,
      );
    if (state.cpuSeconds) {
      const c = state.cpuSeconds;
      const hours = (c.measuring + c.halving + c.training + c.correlating) / 3600;
      io.err(
        `CPU time${c.fromStart ? '' : ' since CPU time was first counted'}: ${hours.toFixed(2)} CPU-hours (measuring ${(c.measuring / 3600).toFixed(2)}, halving ${(c.halving / 3600).toFixed(2)}, training the winners ${(c.training / 3600).toFixed(2)}, the correlation's ${(c.correlating / 3600).toFixed(2)})`,
      );
    }
    if (flags.json) io.out(JSON.stringify({ ...searchSummary(state), out }));
    if (state.phase !== 'done') {
      io.err(`stopped; continue with: anneal search --resume --out ${out}`);
      return 130;
    }
    return 0;
  },
};
