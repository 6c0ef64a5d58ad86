import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import {
  applyMemoryLimits,
  CONFIG_FILE,
  extractorStepsSchema,
  extractorWidthSchema,
  MODEL_FILE,
  Model,
  resolveMemoryBudget,
} from '@anneal/engine';
import { MAX_RANKS } from '@anneal/protocol';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { isVersionId, modelVersionDir } from '../client/model-version.ts';
import { writeAnalysis } from '../distill/analysis.ts';
import { rankFolder, seedRankFolder } from '../distill/rank-folders.ts';
import { fileSha256 } from '../distill/reference.ts';
import { distill } from '../distill/run.ts';
import {
  DEFAULT_TEACHER_BASELINES,
  methodNames,
  RUN_FILE,
  type RunSettings,
  readRun,
  readState,
  TEACHER_BASELINE_SAMPLERS,
  writeRun,
} from '../distill/state.ts';
import { distillSummary } from '../distill/summary.ts';
import type { Command } from './command.ts';
import { joinRanks, launchRanks, localShare } from './train-ranks.ts';

const usage = `Usage: anneal distill --teacher DIR|VERSION --method METHOD --out DIR [options]

Distills a teacher that needs many sampling steps into a student that needs few, stage by
stage, and measures what quality each stage keeps against a reference: the teacher sampled
with DDIM at 32 steps, no guidance, its FD at n = --eval-n measured once and cached with its
samples under ANNEAL_HOME/distill/references (keyed by the teacher's weights hash).

progressive  Salimans & Ho 2022: halvings 32 -> 16 -> 8 -> 4 -> 2 -> 1 on subsets of the
             teacher's 32-step DDIM grid; stage k's student learns one DDIM step for two of
             stage k-1's. Students predict v or x0; an eps teacher's
             first student is converted to v (Salimans & Ho, section 4).
consistency  Song et al. 2023: one stage of consistency distillation over N teacher sigmas
             (--cd-discretization), then 1- and 2-step sampling with the consistency sampler.
consistency-training
             ECT (Geng et al. 2024): one stage of consistency training on the data, no
             teacher in the loss; the student starts from the teacher's weights, and the gap
             between the two noise levels it is made consistent across shrinks by --ect-q
             every --ect-halving-every iterations. The stage runs all --max-iters-per-stage
             iterations (the curriculum ends there); 1- and 2-step sampling as above.

Each stage trains until its held-out distillation loss (the student's samples on a fixed
noise batch against the teacher's) stops improving, or --max-iters-per-stage (consistency
training always runs that many: its curriculum spans them); then FD, KID,
precision/recall (with a bootstrap spread and the real-vs-real floor), paired PSNR/SSIM/
feature distance against the reference's images from identical noise, latency, NFE and peak
memory. Distillation continues while FD <= budget x the reference FD and more steps than
--min-steps remain; the last student within budget is kept in DIR/student.

Writes: DIR/stage-K/ (student: config.json records the sigma list it was distilled for, which
\`anneal sample\` and \`anneal eval\` use by default; eval.json), DIR/student/, DIR/metrics.jsonl
(every line has its stage), DIR/tradeoff.md, .json and .svg (quality vs NFE and vs latency,
Pareto points marked), DIR/distill.json and DIR/distill-state.json (for --resume).

Options:
  --teacher DIR|VERSION       teacher checkpoint folder, or a registered model version's id:
                              downloaded once from the server (ANNEAL_SERVER/ANNEAL_TOKEN or
                              \`anneal login\`) into ANNEAL_HOME/models/versions/VERSION; as a
                              job on an agent: \`anneal submit distill --teacher VERSION\`
  --method M                  progressive | consistency | consistency-training
  --out DIR                   run folder (required)
  --quality-budget X          keep students with FD <= X times the reference FD (default 1.3)
  --min-steps N               fewest sampling steps to distill down to (default 1)
  --max-iters-per-stage N     iteration cap per stage (default 3000)
  --eval-every N              iterations between held-out evaluations (and checkpoints;
                              default 100)
  --plateau-window W          stop a stage when the best held-out loss of the last W
                              evaluations ... (default 5)
  --plateau-threshold X       ... improves on the best before them by less than X (relative;
                              default 0.01)
  --heldout-n N               images in the fixed held-out batch (default 64)
  --eval-n N                  samples and real images per quality measurement (default 500;
                              MNIST's held-out split has 1000)
  --batch N                   training batch (default 32)
  --lr X                      student learning rate, constant after warmup (default 1e-4)
  --ema-decay X               EMA decay of the saved student (default 0.999)
  --weighting W               progressive: truncated-snr (max(SNR, 1)) | snr+1 (default
                              truncated-snr)
  --cd-discretization N       consistency: teacher sigmas, Karras rho 7 (default 18)
  --ect-q X                   consistency-training: the gap shrinks by X per halving (default 2)
  --ect-halving-every N       consistency-training: iterations per halving (default
                              --max-iters-per-stage / 8)
  --seed N                    seed for data order, noise and real subsets (default 0)
  --log-every N               iterations between metrics lines (default 10)
  --extractor-steps N         train the quality extractor for N steps instead of its default
  --extractor-width N         extractor channels N, 2N, 4N (default 16; a multiple of 8)
  --teacher-baselines LIST    samplers the teacher is also measured with at each student's
                              step count, same ruler and noise, so the table says whether
                              the student beats the teacher's best at its NFE: from ddim,
                              dpmpp-2m, ddpm, euler, heun, or none (default ddim,dpmpp-2m)
  --resume                    continue DIR's run where it stopped (exactly: a kill -9 mid-stage
                              replays the same iterations); takes its settings from
                              DIR/distill.json, so only --out, --json, --events and --teacher
                              may be given; --teacher then names where the same teacher is now
                              (a run moved to another machine), checked by its weights' hash
  --json                      machine output; the last stdout line is a JSON summary
  --events                    with --json: also JSON event lines: metrics per logged iteration
                              and progress per held-out evaluation (step and total count
                              iterations over the planned stages), and one per finished stage
  --ranks N                   data-parallel: N processes on this machine (2-16) as one group on
                              MLX's ring backend, each taking batch / N of every training
                              step; every rank runs the stages, rank 0 decides them and its
                              DIR is the run (the others keep theirs in DIR/ranks/rank-R,
                              seeded from DIR by --resume, so a run begun on one process
                              goes on with --resume --ranks N)
  --hostfile FILE, --rank R   one rank of a group on several machines (docs/distributed.md)
  -h, --help                  show this help`;

const flagsSchema = z.object({
  teacher: z.string().min(1).optional(),
  method: z.enum(methodNames).optional(),
  out: z.string({ error: 'is required' }).min(1),
  'quality-budget': z.coerce.number().min(1).max(100).default(1.3),
  'min-steps': z.coerce.number().int().min(1).max(16).default(1),
  'max-iters-per-stage': z.coerce.number().int().min(1).max(1_000_000).default(3000),
  'eval-every': z.coerce.number().int().min(1).default(100),
  'plateau-window': z.coerce.number().int().min(1).max(100).default(5),
  'plateau-threshold': z.coerce.number().min(0).max(1).default(0.01),
  'heldout-n': z.coerce.number().int().min(1).max(1024).default(64),
  'eval-n': z.coerce.number().int().min(10).max(10000).default(500),
  batch: z.coerce.number().int().min(1).max(4096).default(32),
  lr: z.coerce.number().positive().max(1).default(1e-4),
  'ema-decay': z.coerce.number().min(0).max(1).default(0.999),
  weighting: z.enum(['truncated-snr', 'snr+1']).default('truncated-snr'),
  'cd-discretization': z.coerce.number().int().min(2).max(1000).default(18),
  'ect-q': z.coerce.number().gt(1).max(1000).optional(),
  'ect-halving-every': z.coerce.number().int().min(1).optional(),
  seed: z.coerce.number().int().min(0).max(0x7fffffff).default(0),
  'log-every': z.coerce.number().int().min(1).default(10),
  'extractor-steps': z.coerce.number().pipe(extractorStepsSchema).optional(),
  'extractor-width': z.coerce.number().pipe(extractorWidthSchema).optional(),
  'teacher-baselines': z
    .string()
    .default(DEFAULT_TEACHER_BASELINES.join(','))
    .transform((v, ctx) => {
      if (v === 'none') return [];
      const names = v.split(',').map((x) => x.trim());
      const bad = names.find((x) => !(TEACHER_BASELINE_SAMPLERS as readonly string[]).includes(x));
      if (bad !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${bad}" is not one of ${TEACHER_BASELINE_SAMPLERS.join(', ')} (or none)`,
        });
        return z.NEVER;
      }
      return [...new Set(names)] as (typeof TEACHER_BASELINE_SAMPLERS)[number][];
    }),
  resume: z.boolean().default(false),
  json: z.boolean().default(false),
  events: z.boolean().default(false),
  ranks: z.coerce.number().int().min(2).max(MAX_RANKS).optional(),
  hostfile: z.string().min(1).optional(),
  rank: z.coerce.number().int().min(0).max(1023).optional(),
});

const options = {
  teacher: { type: 'string' },
  method: { type: 'string' },
  out: { type: 'string' },
  'quality-budget': { type: 'string' },
  'min-steps': { type: 'string' },
  'max-iters-per-stage': { type: 'string' },
  'eval-every': { type: 'string' },
  'plateau-window': { type: 'string' },
  'plateau-threshold': { type: 'string' },
  'heldout-n': { type: 'string' },
  'eval-n': { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  'ema-decay': { type: 'string' },
  weighting: { type: 'string' },
  'cd-discretization': { type: 'string' },
  'ect-q': { type: 'string' },
  'ect-halving-every': { type: 'string' },
  seed: { type: 'string' },
  'log-every': { type: 'string' },
  'extractor-steps': { type: 'string' },
  'extractor-width': { type: 'string' },
  'teacher-baselines': { type: 'string' },
  resume: { type: 'boolean' },
  json: { type: 'boolean' },
  events: { type: 'boolean' },
  ranks: { type: 'string' },
  hostfile: { type: 'string' },
  rank: { type: 'string' },
} as const;

/** The flags --resume accepts: the rest come from DIR/distill.json. */
const RESUME_FLAGS = new Set([
  '--out',
  '--resume',
  '--json',
  '--events',
  '--teacher',
  '--ranks',
  '--hostfile',
  '--rank',
]);

/** --teacher's checkpoint folder: a folder, or a model version downloaded into the cache. */
async function teacherDir(flag: string): Promise<string> {
  const teacher =
    !existsSync(flag) && isVersionId(flag)
      ? await modelVersionDir(flag, '--teacher')
      : resolve(flag);
  if (!existsSync(teacher) || !statSync(teacher).isDirectory())
    throw new UsageError(
      `--teacher: ${flag} is neither a checkpoint folder nor a model version id`,
    );
  for (const f of [CONFIG_FILE, MODEL_FILE])
    if (!existsSync(join(teacher, f)))
      throw new AppError(
        'NOT_FOUND',
        `--teacher: no ${f} in ${teacher}; is it an Anneal checkpoint?`,
      );
  return teacher;
}

/**
 * The engine refuses an ECT curriculum whose last gap, sigma_min / q^a, underflows float32
 * (a = the number of halvings by the last iteration); refused here too, before the extractor
 * and the reference are spent and the run folder is written.
 */
function checkEctCurriculum(flags: z.infer<typeof flagsSchema>, teacher: string): void {
  const iters = flags['max-iters-per-stage'];
  const q = flags['ect-q'] ?? 2;
  const halving = flags['ect-halving-every'] ?? Math.max(1, Math.ceil(iters / 8));
  const halvings = Math.floor((iters - 1) / halving) + 1;
  const model = Model.load(teacher);
  let sigmaMin: number;
  try {
    sigmaMin = model.sigmaRange().sigmaMin;
  } finally {
    model.dispose();
  }
  const shrink = q ** halvings;
  if (!(shrink < 3.4e38) || !(sigmaMin / shrink >= 1.2e-38))
    throw new UsageError(
      `--ect-halving-every: ${iters} iterations halving every ${halving} shrink the gap by ${q}^${halvings}, below float32 from sigma_min ${sigmaMin.toPrecision(4)}; halve less often or use a smaller --ect-q`,
    );
}

async function settingsOf(flags: z.infer<typeof flagsSchema>): Promise<RunSettings> {
  if (!flags.teacher) throw new UsageError('--teacher: is required');
  if (!flags.method) throw new UsageError(`--method: is required (${methodNames.join(', ')})`);
  const teacher = await teacherDir(flags.teacher);
  if (flags['min-steps'] >= 32)
    throw new UsageError('--min-steps: must be below the reference 32 steps');
  if (flags.method !== 'progressive' && flags['min-steps'] > 2)
    throw new UsageError(
      `--min-steps: ${flags.method} evaluates 2- and 1-step sampling; give 1 or 2`,
    );
  for (const f of ['ect-q', 'ect-halving-every'] as const)
    if (flags.method !== 'consistency-training' && flags[f] !== undefined)
      throw new UsageError(`--${f}: applies to --method consistency-training only`);
  if (flags.method === 'consistency-training') checkEctCurriculum(flags, teacher);
  return {
    version: 1,
    method: flags.method,
    teacher,
    teacher_sha256: await fileSha256(join(teacher, MODEL_FILE)),
    budget: flags['quality-budget'],
    min_steps: flags['min-steps'],
    max_iters_per_stage: flags['max-iters-per-stage'],
    eval_every: flags['eval-every'],
    plateau_window: flags['plateau-window'],
    plateau_threshold: flags['plateau-threshold'],
    eval_n: flags['eval-n'],
    heldout_n: flags['heldout-n'],
    batch: flags.batch,
    lr: flags.lr,
    ema_decay: flags['ema-decay'],
    seed: flags.seed,
    log_every: flags['log-every'],
    weighting: flags.weighting,
    cd_discretization: flags['cd-discretization'],
    ect_q: flags['ect-q'] ?? 2,
    ect_halving_every: flags['ect-halving-every'] ?? null,
    extractor_steps: flags['extractor-steps'],
    extractor_width: flags['extractor-width'],
    teacher_baselines: flags['teacher-baselines'],
  };
}

export const distillCommand: Command = {
  name: 'distill',
  summary: 'distill a teacher into few-step students, stage by stage, within a quality budget',
  usage,
  async run(argv, io) {
    const flags = parseFlags(argv, options, flagsSchema);
    if (flags.ranks !== undefined) {
      // Every rank resumes where rank 0 stands (its folder may be missing, when the run
      // began on one process, or from another sitting): seeded before any rank starts.
      if (flags.resume && readState(resolve(flags.out)))
        for (let r = 1; r < flags.ranks; r++) seedRankFolder(resolve(flags.out), r);
      return launchRanks(argv, flags.ranks, io, process.env, 'distill');
    }
    // Data-parallel: every rank runs the stages; rank 0's folder is the run, the others keep
    // theirs beside it (each writes what it computes; only rank 0's decisions count).
    const group = joinRanks(flags);
    const out = rankFolder(resolve(flags.out), group?.rank ?? 0);
    const existing = readState(out);
    let run: RunSettings;
    if (flags.resume) {
      const extra = argv.filter(
        (a) => a.startsWith('--') && !RESUME_FLAGS.has(a.split('=')[0] as string),
      );
      if (extra.length)
        throw new UsageError(
          `${extra[0]}: --resume takes the run's settings from ${join(out, RUN_FILE)}; give only --out, --json and --events`,
        );
      if (!existing) throw new AppError('NOT_FOUND', `--resume: no distillation run in ${out}`);
      run = readRun(out);
      const teacher = flags.teacher ? await teacherDir(flags.teacher) : run.teacher;
      const sha = existsSync(join(teacher, MODEL_FILE))
        ? await fileSha256(join(teacher, MODEL_FILE))
        : null;
      if (sha === null)
        throw new AppError(
          'NOT_FOUND',
          `--resume: the teacher ${teacher} is gone; give --teacher with where it is now`,
        );
      if (sha !== run.teacher_sha256)
        throw new AppError(
          'CONFLICT',
          `--resume: the teacher ${teacher} is not the one the run started from (weights sha256 ${sha.slice(0, 12)}..., was ${run.teacher_sha256.slice(0, 12)}...)`,
        );
      if (teacher !== run.teacher) {
        run = { ...run, teacher };
        writeRun(out, run);
      }
    } else {
      if (existing)
        throw new AppError(
          'CONFLICT',
          `${out} already holds a distillation run; pass --resume to continue it, or choose another --out`,
        );
      run = await settingsOf(flags);
      mkdirSync(out, { recursive: true });
      writeRun(out, run);
    }
    let result: Awaited<ReturnType<typeof distill>>;
    try {
      // The machine's budget (ANNEAL_MEMORY_BUDGET), not the run's: it is not in distill.json.
      // Ranks started together on this machine (--ranks) share it.
      const budget = localShare(resolveMemoryBudget());
      applyMemoryLimits(budget);
      result = await distill({
        out,
        run,
        io,
        json: flags.json,
        events: flags.events,
        budget,
        group,
      });
    } catch (err) {
      if (err instanceof RangeError && /exceeds the real splits/.test(err.message))
        throw new UsageError(`--eval-n: ${err.message}`);
      throw err;
    }
    if (result.cancelled) {
      io.err(
        `stopped in stage ${result.state.stage} at iteration ${result.state.iter}; continue with --resume --out ${out}`,
      );
      return 130;
    }
    const { state, reference, floorFd, latency } = result;
    const { kept } = writeAnalysis(out, run, state, reference, floorFd, latency);
    const studentDir = join(out, 'student');
    if (kept) {
      mkdirSync(studentDir, { recursive: true });
      for (const f of [MODEL_FILE, CONFIG_FILE])
        copyFileSync(join(kept.dir, f), join(studentDir, f));
    }
    const summary = distillSummary({ ...result, out, run, kept, studentDir });
    if (flags.json) io.out(JSON.stringify(summary));
    else
      io.out(
        `${summary.stop_reason}\n${kept ? `kept: ${kept.name} (FD ${kept.fd.toFixed(4)}, ${kept.steps} steps) in ${studentDir}` : 'no student met the budget'}\ntrade-off: ${summary.tradeoff.markdown}, ${summary.tradeoff.svg}`,
      );
    return 0;
  },
};
