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

/** Decodes base64 into a fresh (aligned) typed array, refusing a byte count it cannot hold. */
function decode<T>(
  text: unknown,
  of: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
  what: string,
): T {
  if (typeof text !== 'string') throw new Error(`${what} is missing`);
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (bytes.byteLength % of.BYTES_PER_ELEMENT !== 0)
    throw new Error(`${what} holds ${bytes.byteLength} bytes, not whole values`);
  return new of(bytes.buffer);
}

/** Reads a state file whose `key` must equal `key`; null when absent. */
function readState(file: string, key: unknown): Record<string, unknown> | null {
  if (!existsSync(file)) return null;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new AppError(
      'CONFLICT',
      `${file} is not a learning state file (${(err as Error).message}); remove it to learn from the start`,
    );
  }
  if (JSON.stringify(parsed.key) !== JSON.stringify(key))
    throw new AppError(
      'CONFLICT',
      `${file} belongs to another learn (its key differs); remove it to learn from the start`,
    );
  return parsed;
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
  const referenceKey = {
    version: VERSION,
    weights: weightsSha256(model.dir),
    n: spec.n ?? 64,
    seed: spec.seed ?? 0,
    heldoutSeed: spec.heldoutSeed ?? 1,
    class: spec.class ?? null,
    guidance: spec.guidance ?? 1,
    reference: spec.reference ?? { sampler: 'heun', steps: 100 },
    sigmaMax: spec.sigmaMax ?? null,
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

  let knownReference: NativeLearnReference | undefined;
  const rec = readState(referenceFile, referenceKey);
  if (rec) {
    try {
      knownReference = {
        cost: decode(rec.cost, Float64Array, 'cost'),
        trainEnd: decode(rec.trainEnd, Float32Array, 'trainEnd'),
        heldoutEnd: decode(rec.heldoutEnd, Float32Array, 'heldoutEnd'),
      };
    } catch (err) {
      throw new AppError(
        'CONFLICT',
        `${referenceFile}: ${(err as Error).message}; remove it to run the references again`,
      );
    }
  }
  const resume = knownReference
    ? (readState(checkpointFile, learnKey)?.checkpoint as NativeLearnCheckpoint | undefined)
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
