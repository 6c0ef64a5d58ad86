// What every job kind is on both sides of the wire, in pure terms: the spec it takes, the
// lines its child process prints, the summary it ends with, what it reads, the memory it
// needs and how a list shows its progress. The agent (CLI flags, child args, running) and
// the server (what completion stores) add their parts in their own kind tables.
//
// Adding a kind `k` (its child being an `anneal` command, apps/agent/src/commands):
//   packages/protocol/src/kinds/k.ts                      + its entry in ../jobs.ts (jobKinds)
//   apps/agent/src/kinds/k.ts                             + its entry in apps/agent/src/kinds/index.ts
//   apps/web/src/server/domain/jobs/kinds/k.ts            + its entry in that folder's index.ts
//   apps/web/src/app/(app)/projects/[projectId]/jobs/kinds/k.tsx + its entry in that folder's index.ts
// The type checker refuses a kind missing from any of the three tables.

import type { DatasetRef } from '@anneal/datasets/ref';
import type { ComputeDtype, HardwareProfile } from '@anneal/engine/config';
import { z } from 'zod';
import type { ModelSource } from './model-source.ts';

/** The train job that made the checkpoint a sample or evaluate job reads. */
export interface SourceTraining {
  spec: unknown;
  versionClasses: number | null;
}

/** What the server knows about a queued job beyond its spec, for its memory estimate. */
export interface RequirementContext {
  /** Classes of the dataset version a train job names; null for built-ins. */
  versionClasses: number | null;
  /** For jobs that read a checkpoint, the train job behind it; null when there is none. */
  source: SourceTraining | null | undefined;
  hardware: HardwareProfile;
}

export interface MemoryNeed {
  bytes: number;
  /** Images in one step: the training batch, or one sampling forward pass. */
  batch: number;
  dtype: ComputeDtype;
  /** What the user can lower, for the waiting message. */
  lower: string;
}

// The child's stdout is JSON lines: events (each with `event`) while it runs, and one
// summary object (without `event`) last. Each kind names the events it prints.

const step = z.number().int().min(0);
/** A metric the child could not compute (NaN and Inf print as null in JSON). */
const metric = z.number().nullable().optional();

/** A phase's progress (evaluate: extractor training, sampling, reference). */
export const progressEventSchema = z.object({
  event: z.literal('progress'),
  phase: z.string().optional(),
  step,
  total: z.number().int().min(1),
  /** Seconds left of the whole job (every phase), when the child can estimate them. */
  eta_s: z.number().min(0).optional(),
  /** The estimate leaves out a phase still to come: the job takes at least eta_s. */
  eta_lower_bound: z.boolean().optional(),
});
export type ProgressEvent = z.infer<typeof progressEventSchema>;

/** A logged training step: the run's metrics at `step`. */
export const metricsEventSchema = z.object({
  event: z.literal('metrics'),
  step,
  total: z.number().int().min(1),
  loss: metric,
  lr: metric,
  grad_norm: metric,
  images_per_s: metric,
  peak_memory_bytes: metric,
  active_memory_bytes: metric,
  wall_s: metric,
  /** The logged step's image side (absent from agents before issue 16). */
  resolution: z.number().int().min(1).optional(),
  /** A progressive run's stage, 0-based (absent: one resolution throughout). */
  stage: z.number().int().min(0).optional(),
  /**
   * Data-parallel: milliseconds one all_sum of the gradient's size took across the group (a
   * probe at checkpoint boundaries), and that as a share of the step's time.
   */
  comm_ms: metric,
  comm_share: metric,
});
/** The keys of a metrics event recorded as run metrics. */
export const METRIC_EVENT_KEYS = [
  'loss',
  'lr',
  'grad_norm',
  'images_per_s',
  'peak_memory_bytes',
  'active_memory_bytes',
  'comm_ms',
  'comm_share',
] as const;
/**
 * Recorded as run metrics too when the event carries a stage (a progressive run), so the run
 * page can say which resolution the run is at; a single-resolution run's would be a flat line.
 */
export const STAGE_EVENT_KEYS = ['stage', 'resolution'] as const;

/** A complete checkpoint at `step`, copied to `dir` for upload while the job goes on. */
export const checkpointEventSchema = z.object({
  event: z.literal('checkpoint'),
  step,
  dir: z.string().min(1),
  /** Paths relative to `dir` (train: flat names; distill: its run folder's layout). */
  files: z.array(z.string().min(1)).min(1),
});
export type CheckpointEvent = z.infer<typeof checkpointEventSchema>;

/**
 * A run's checkpoint files are its artifacts under this prefix, each event's files at their
 * paths relative to the event's `dir`, overwritten by the next checkpoint.
 */
export const CHECKPOINT_PREFIX = 'checkpoints/latest/';

/**
 * A sample grid of the EMA weights at `step` (train): the PNG and the folder's index of
 * grids (how they are made, which class each image is), uploaded as the run's
 * `samples/step-<step>.png` and `samples/index.json`.
 */
/** Where a run keeps its grids' index among its artifacts (and in a train folder). */
export const SAMPLE_INDEX_ARTIFACT = 'samples/index.json';

export const samplesEventSchema = z.object({
  event: z.literal('samples'),
  step,
  file: z.string().min(1),
  index: z.string().min(1),
});
export type SamplesEvent = z.infer<typeof samplesEventSchema>;

/** Something the agent should log that does not stop the job (train: a sample grid failed). */
export const warningEventSchema = z.object({
  event: z.literal('warning'),
  message: z.string().min(1),
});
export type WarningEvent = z.infer<typeof warningEventSchema>;

/**
 * Why the child is about to exit with a failure, and whether another attempt could succeed:
 * a spec error or bad input data (an undecodable file) fails the same way on every agent.
 */
export const errorEventSchema = z.object({
  event: z.literal('error'),
  reason: z.string().min(1),
  retryable: z.boolean(),
});
export type ErrorEvent = z.infer<typeof errorEventSchema>;

/** What a job kind is, in pure terms (see the module comment). */
export interface JobKind<
  Type extends string,
  Spec extends z.ZodType,
  Event extends z.ZodType,
  Summary extends z.ZodType,
> {
  type: Type;
  /** One line for the CLI's and the form's help. */
  summary: string;
  spec: Spec;
  /** `{ type, spec }` as jobs are submitted and offered. */
  job: z.ZodObject<{ type: z.ZodLiteral<Type>; spec: Spec }>;
  /** The events its child prints (a union discriminated on `event`). */
  events: Event;
  /** The summary its child prints last. */
  result: Summary;
  /** The dataset the job reads itself (a train job's); a checkpoint's comes with the lease. */
  dataset(spec: z.infer<Spec>): DatasetRef | null;
  /** The checkpoint the job reads, checked to exist when the job is queued. */
  model(spec: z.infer<Spec>): ModelSource | null;
  /** Where the spec names that checkpoint, for messages; `job.spec.model.id` when unset. */
  modelField?: string;
  /** Whether that checkpoint must be a version of the job's own project. */
  modelInProject?: boolean;
  /** Whether the job needs the dataset the checkpoint it reads was trained on. */
  readsSourceDataset: boolean;
  /** The memory it needs on an agent; null when it cannot be known (or is negligible). */
  memoryNeed(spec: z.infer<Spec>, context: RequirementContext): MemoryNeed | null;
  /** Steps the job reports progress against, known from the spec; null when only the child knows. */
  totalSteps(spec: z.infer<Spec>): number | null;
  /**
   * The AGENT_FEATURES (messages.ts) an agent must have to read this spec: the later fields
   * it uses. Unset: none.
   */
  features?(spec: z.infer<Spec>): string[];
}

/** A kind's definition, checked against JobKind while keeping its literal types. */
export function defineJobKind<
  Type extends string,
  Spec extends z.ZodType,
  Event extends z.ZodType,
  Summary extends z.ZodType,
>(kind: Omit<JobKind<Type, Spec, Event, Summary>, 'job'>): JobKind<Type, Spec, Event, Summary> {
  return { ...kind, job: z.object({ type: z.literal(kind.type), spec: kind.spec }) };
}
