// search.json: everything a hardware-aware search has decided and measured, rewritten (write
// then rename) after every candidate, so a search killed at any point resumes with --resume
// where it stopped and repeats at most one candidate's measurement or checkpoint interval.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { hardwareProfileSchema, unetConfigSchema, writeFileAtomic } from '@anneal/engine';
import {
  searchSettingsSchema as protocolSettingsSchema,
  type SearchEval,
  searchCpuSecondsSchema,
  searchEvalSchema,
  searchMeasureDrift,
  searchObjectiveMs,
  searchObjectiveSchema,
  searchPhaseSchema,
  searchRankSpreadSchema,
  searchRemeasuredSchema,
} from '@anneal/protocol';
import { z } from 'zod';
import { COST_TARGETS, measuredCostSchema } from './cost.ts';
import { paretoFront } from './select.ts';
import { searchSpaceSchema } from './space.ts';

export const SEARCH_FILE = 'search.json';
/** The search's summary (`anneal search --json`'s last line), rewritten at every exit. */
export const SEARCH_SUMMARY_FILE = 'summary.json';

const featuresSchema = z.object({
  forwardFlopsPerImage: z.number().nonnegative(),
  activationBytesPerImage: z.number().nonnegative(),
  attentionWork: z.number().nonnegative(),
  parameters: z.number().int().nonnegative(),
});

const predictedSchema = z.object(
  Object.fromEntries(COST_TARGETS.map((t) => [t, z.number()])) as {
    [K in (typeof COST_TARGETS)[number]]: z.ZodNumber;
  },
);

/** FD and its companions on one ruler; a non-finite value (JSON null) stays null. */
const evalSchema = searchEvalSchema;

export type { SearchEval };

/** A full training's rate decay: cosine from `from` (the last rung) to 0 at `to`. */
const annealSchema = z.object({ from: z.number().int(), to: z.number().int() });
export type Anneal = z.infer<typeof annealSchema>;

/** A proxy score; JSON writes a diverged one (NaN) as null, read back as NaN. */
const proxyValue = z
  .number()
  .nullable()
  .transform((v) => v ?? Number.NaN);

const fullSchema = z.object({
  iters: z.number().int(),
  proxy: proxyValue,
  trainSeconds: z.number(),
  /** Its rate decay past the rungs; absent: the rungs' constant rate carried on. */
  anneal: annealSchema.optional(),
  /** Read from an earlier search of the teacher (proxy-store.ts), not trained here. */
  reused: z.boolean().optional(),
  /** Why the training stopped short: its loss stayed non-finite (no evaluation follows). */
  diverged: z.string().optional(),
  eval: evalSchema.optional(),
});

export const candidateStateSchema = z.object({
  name: z.string(),
  unet: unetConfigSchema,
  features: featuresSchema,
  /** Measured on this device: the predictor's sample, the pool, and the teacher. */
  measured: measuredCostSchema.optional(),
  predicted: predictedSchema.optional(),
  /** Chosen for the quality proxy (predicted within the latency limit, spread by size). */
  pool: z.boolean().default(false),
  /** On the front after halving, among the best `winners` by proxy: trained on to fullIters. */
  winner: z.boolean().default(false),
  /** Chosen to train fully for the proxy's rank correlation (kept, so a resume trains the same). */
  correlate: z.boolean().optional(),
  /** Why it left the search, when it did (over the latency limit, halved out at a rung). */
  dropped: z.string().optional(),
  /** A winner's training to fullIters and its evaluation beside the teacher's. */
  full: fullSchema.optional(),
  /**
   * Full trainings under settings a resume has since changed (fewer iterations, another
   * schedule): kept for the record, oldest first; `full` is the current settings' training.
   */
  earlierFull: z.array(fullSchema).optional(),
  /**
   * How the candidate's folder was trained past the last rung, once its full training began
   * (absent: constant rate, as before decay existed): a folder trained under another schedule
   * is not continued, it is trained again from the last rung.
   */
  fullRecipe: z.object({ anneal: annealSchema.nullable() }).optional(),
  /** The proxy after each rung it finished: total iterations and score. */
  rungs: z
    .array(
      z.object({
        iters: z.number().int(),
        proxy: proxyValue,
        trainSeconds: z.number(),
        reused: z.boolean().optional(),
        /** Why the rung stopped short: its loss stayed non-finite (the candidate is dropped). */
        diverged: z.string().optional(),
      }),
    )
    .default([]),
});
export type CandidateState = z.infer<typeof candidateStateSchema>;

const fitSchema = z.object({
  coefficients: z.array(z.number()),
  looError: z.object({ median: z.number(), max: z.number(), n: z.number().int() }),
});

/**
 * A search's settings: the protocol's (what a job's summary carries, each field documented
 * there), with the space as this agent's schema and the defaults a search.json written before
 * a field existed is read with.
 */
export const searchSettingsSchema = protocolSettingsSchema.extend({
  space: searchSpaceSchema,
  fitSample: z.number().int().min(3),
  objective: searchObjectiveSchema.default('latency'),
  winners: z.number().int().min(0).default(2),
  fullIters: z.number().int().positive().default(2000),
  evalN: z.number().int().min(2).default(1000),
  extractor: z
    .object({ steps: z.number().int().optional(), width: z.number().int().optional() })
    .default({}),
});
export type SearchSettings = z.infer<typeof searchSettingsSchema>;

export const searchStateSchema = z.object({
  version: z.literal(1),
  teacher: z.object({ dir: z.string(), weights: z.string(), name: z.string() }),
  profile: z.string(),
  hardware: hardwareProfileSchema,
  settings: searchSettingsSchema,
  phase: searchPhaseSchema,
  /** The teacher's evaluation at the winners' setting (same ruler, noise and n). */
  teacherEval: evalSchema.optional(),
  candidates: z.array(candidateStateSchema),
  fits: z.record(z.string(), fitSchema).optional(),
  /**
   * The teacher measured again once the pool was: `drift` is the objective's ms then over its
   * first measurement's, less 1 (absent from searches before it was taken).
   */
  remeasured: searchRemeasuredSchema.optional(),
  /** Wall seconds spent measuring candidates and training them in the rungs. */
  seconds: z.object({ measure: z.number(), proxy: z.number() }).default({ measure: 0, proxy: 0 }),
  /**
   * The process's CPU seconds (user and system, every thread), by the phase they were spent in:
   * what the search cost in CPU-hours. A paused process (SIGSTOP) spends none. Absent from
   * states written before it was counted.
   */
  cpuSeconds: searchCpuSecondsSchema.optional(),
  /**
   * Other hardware profiles a resume continued the search on, after its costs were measured
   * (training and scoring do not depend on the hardware; their CPU seconds count in cpuSeconds).
   */
  continuedOn: z
    .array(z.object({ profile: z.string(), phase: searchPhaseSchema, at: z.string() }))
    .optional(),
  /**
   * The proxy correlation's bootstrap spread (correlation.ts), over the candidates named: it
   * stands while they are the ones evaluated. Absent before it was computed.
   */
  correlationSpread: z
    .object({
      names: z.array(z.string()),
      resamples: z.number().int().min(2),
      firstRung: searchRankSpreadSchema.nullable(),
      full: searchRankSpreadSchema.nullable(),
    })
    .optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
});
export type SearchState = z.infer<typeof searchStateSchema>;

export function readSearchState(out: string): SearchState {
  const path = join(out, SEARCH_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AppError(
      'NOT_FOUND',
      `cannot resume: ${path} cannot be read (${(err as Error).message}); start the search without --resume`,
    );
  }
  const r = searchStateSchema.safeParse(raw);
  if (!r.success)
    throw new AppError(
      'BAD_REQUEST',
      `${path} is not a search state: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

export function writeSearchState(out: string, state: SearchState): void {
  writeFileAtomic(join(out, SEARCH_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/** The measured (or predicted) cost the search's objective counts, in ms. */
export function objectiveMs(
  settings: Pick<SearchSettings, 'objective'>,
  cost: { latencyMs: number; throughputMsPerImage: number },
): number {
  return searchObjectiveMs(settings.objective, cost);
}

/** A warning when the machine's speed changed while the costs were measured; else null. */
export function measureDriftWarning(state: SearchState): string | null {
  const first = state.candidates.find((c) => c.name === state.teacher.name)?.measured;
  const d = searchMeasureDrift(state.settings.objective, first, state.remeasured);
  if (!d) return null;
  const unit = state.settings.objective === 'latency' ? 'ms/step' : 'ms/image-step';
  return `warning: the teacher measured ${d.first.toFixed(2)} ${unit} first and ${d.again.toFixed(2)} once the pool was (${d.pct}): this machine's speed changed while measuring (another process, thermal limits), so the costs and the limit are off by up to that much, and cached so (ANNEAL_HOME/cache/costs/${state.profile}): remove that folder and search again (a new --out) on an otherwise idle machine`;
}

/** The limit in the objective's ms (needs the teacher measured when derived). */
export function latencyLimit(state: SearchState): number {
  const { latencyMs, speedup } = state.settings;
  if (latencyMs !== null) return latencyMs;
  const teacher = state.candidates.find((c) => c.name === state.teacher.name);
  if (!teacher?.measured) throw new Error('the latency limit needs the teacher measured first');
  return objectiveMs(state.settings, teacher.measured) / speedup;
}

/** A measurement for people: `digits` decimals, or n/a for one that was not finite. */
export function fixed(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits);
}

/**
 * The Pareto front of the candidates that finished the last rung with a finite proxy, with
 * the teacher: (proxy, ms in the search's objective, training peak memory), all minimized. The
 * teacher's proxy is 0. (A NaN proxy would compare false with every other and so never be
 * dominated.)
 */
export function searchFront(state: SearchState): CandidateState[] {
  const last = Math.max(0, ...state.candidates.map((c) => c.rungs.length)) - 1;
  const finished = state.candidates.filter(
    (c) =>
      c.rungs.length - 1 === last &&
      last >= 0 &&
      !c.dropped &&
      Number.isFinite(c.rungs[last]?.proxy),
  );
  const teacher = state.candidates.find((c) => c.name === state.teacher.name);
  const points = teacher?.measured ? [teacher, ...finished] : finished;
  const proxy = (c: CandidateState) =>
    c === teacher ? 0 : (c.rungs[last]?.proxy ?? Number.POSITIVE_INFINITY);
  return paretoFront(points, [
    proxy,
    (c) => (c.measured ? objectiveMs(state.settings, c.measured) : Number.POSITIVE_INFINITY),
    (c) => c.measured?.trainPeakBytes ?? Number.POSITIVE_INFINITY,
  ]);
}
