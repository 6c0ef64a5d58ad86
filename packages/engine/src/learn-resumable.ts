// Schedule learning that outlives its process. The reference runs (2 x n images at 199 NFE)
// depend only on the model, the noise and the reference, not on the sampler or NFE learned, so
// their record is kept once in the state folder and every later learn against it reads it. The
// coordinate descent (hours for a 20-NFE schedule on a CPU) is checkpointed at every coordinate,
// so a learn stopped part way continues where it stopped, to the result an uninterrupted learn
// gives: the record's endpoints are the arrays both use, and the descent is deterministic.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { z } from 'zod';
import { stepsForNfe } from './config/schedule.ts';
import { type LearnScheduleSpec, type Model, writeFileAtomic } from './model.ts';
import type {
  NativeLearnCheckpoint,
  NativeLearnReference,
  NativeLearnScheduleResult,
} from './native-types.ts';
import { weightsSha256 } from './weights-digest.ts';

const VERSION = 1;

export interface ResumableLearnResult extends NativeLearnScheduleResult {
  /** The reference record's file (read or written). */
  referenceFile: string;
  /** The checkpoint's file: removed when learning ends, kept when it was cancelled. */
  checkpointFile: string;
}

const hash = (v: unknown) =>
  createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 24);

const encode = (a: Float32Array | Float64Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** Base64 of whole float values, decoded into a fresh (aligned) typed array. */
const floats = <T>(of: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }) =>
  z
    .string()
    .transform((text) => new Uint8Array(Buffer.from(text, 'base64')))
    .refine((bytes) => bytes.byteLength % of.BYTES_PER_ELEMENT === 0, 'not whole float values')
    .transform((bytes) => new of(bytes.buffer));

const finite = z.number().finite().nonnegative();
const count = z.number().int().nonnegative();
const referenceFileSchema = z.object({
  key: z.unknown(),
  grid: z.array(z.number()),
  cost: floats(Float64Array),
  trainEnd: floats(Float32Array),
  heldoutEnd: floats(Float32Array),
});
const checkpointFileSchema = z.object({
  key: z.unknown(),
  checkpoint: z.object({
    dpSigmas: z.array(finite),
    best: z.array(finite),
    baselineTrain: finite,
    dpTrain: finite,
    bestError: finite,
    sweep: count,
    k: count.min(1),
    move: finite,
    done: count,
    evaluations: count,
  }),
});

/**
 * Reads a state file: null when absent; its content when it parses and its `key` equals
 * `key`; else a CONFLICT naming the file and what is wrong with it.
 */
function readState<T extends { key: unknown }>(
  file: string,
  schema: z.ZodType<T>,
  key: unknown,
): T | null {
  if (!existsSync(file)) return null;
  const damaged = (why: string) =>
    new AppError(
      'CONFLICT',
      `${file} is not a usable learning state file (${why}); remove it to learn from the start`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw damaged((err as Error).message);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw damaged(`${issue?.path.join('.') || 'content'}: ${issue?.message}`);
  }
  if (JSON.stringify(parsed.data.key) !== JSON.stringify(key))
    throw damaged('it belongs to another learn: its key differs');
  return parsed.data;
}

/**
 * Model.learnSchedule with its reference record and checkpoints kept in `dir`: an existing
 * record of the same reference runs is reused, an existing checkpoint of the same learn is
 * resumed. The model must have been loaded from its folder (its weights name the state).
 */
export async function learnScheduleResumable(
  model: Model,
  spec: LearnScheduleSpec,
  dir: string,
): Promise<ResumableLearnResult> {
  if (!model.dir)
    throw new AppError(
      'BAD_REQUEST',
      'resumable schedule learning needs a model loaded from its folder (its weights name the state)',
    );
  // The reference runs from the baseline's first sigma (which the initial kind and sigmaMax
  // decide) on this model's sigma range and preconditioning: all of it names the record.
  const start = model.scheduleSigmas({
    sampler: spec.sampler,
    steps: stepsForNfe(spec.sampler, spec.nfe),
    schedule: spec.initial ?? 'default',
    sigmaMax: spec.sigmaMax,
  })[0];
  const referenceKey = {
    version: VERSION,
    weights: weightsSha256(model.dir),
    config: hash(model.config),
    start,
    n: spec.n ?? 64,
    seed: spec.seed ?? 0,
    heldoutSeed: spec.heldoutSeed ?? 1,
    class: spec.class ?? null,
    guidance: spec.guidance ?? 1,
    reference: spec.reference ?? { sampler: 'heun', steps: 100 },
  };
  const learnKey = {
    ...referenceKey,
    sampler: spec.sampler,
    nfe: spec.nfe,
    initial: spec.initial ?? 'default',
    sweeps: spec.sweeps ?? 6,
  };
  mkdirSync(dir, { recursive: true });
  const referenceFile = join(dir, `reference-${hash(referenceKey)}.json`);
  const checkpointFile = join(dir, `checkpoint-${hash(learnKey)}.json`);

  const rec = readState(referenceFile, referenceFileSchema, referenceKey);
  const knownReference: NativeLearnReference | undefined = rec
    ? { grid: rec.grid, cost: rec.cost, trainEnd: rec.trainEnd, heldoutEnd: rec.heldoutEnd }
    : undefined;
  const resume: NativeLearnCheckpoint | undefined = knownReference
    ? readState(checkpointFile, checkpointFileSchema, learnKey)?.checkpoint
    : undefined;

  // A failed write stops learning (its hours would otherwise be unrecoverable) and is thrown.
  let writeError: Error | null = null;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  if (spec.signal?.aborted) stop.abort();
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  const keep = (write: () => void) => {
    try {
      write();
    } catch (err) {
      writeError ??= err as Error;
      stop.abort();
    }
  };
  let result: NativeLearnScheduleResult;
  try {
    result = await model.learnSchedule({
      ...spec,
      knownReference,
      resume,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.reference) {
          const r = p.reference;
          keep(() =>
            writeFileAtomic(
              referenceFile,
              JSON.stringify({
                key: referenceKey,
                grid: r.grid,
                cost: encode(r.cost),
                trainEnd: encode(r.trainEnd),
                heldoutEnd: encode(r.heldoutEnd),
              }),
            ),
          );
        }
        if (p.checkpoint) {
          const c = p.checkpoint;
          keep(() =>
            writeFileAtomic(checkpointFile, JSON.stringify({ key: learnKey, checkpoint: c })),
          );
        }
        spec.onProgress?.(p);
      },
    });
  } finally {
    spec.signal?.removeEventListener('abort', onAbort);
  }
  if (writeError) throw writeError;
  if (!result.cancelled) rmSync(checkpointFile, { force: true });
  return { ...result, referenceFile, checkpointFile };
}
