// Sampling that outlives its process: n images drawn a chunk at a time, each finished chunk's
// pixels written to a folder, so a killed run (a 100-step reference over 1,000 images takes
// hours on a CPU) resumes at the first missing chunk. A chunk's noise and labels depend only
// on the seed and its index in the run (GenerateSpec::first_chunk), so the images are the ones
// a single call gives.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import type { AttentionExec } from './attention.ts';
import { SAMPLING_DEFAULTS } from './config/training.ts';
import { type Model, writeFileAtomic } from './model.ts';
import { resolveSchedule } from './schedules.ts';
import { weightsSha256 } from './weights-digest.ts';

/**
 * What a resumable run takes: a sample spec without given noise (it is the seed's). A memory
 * `budget` may choose how attention executes; that changes outputs only by rounding, so it is
 * not part of what names the run.
 */
export type ResumableSpec = Omit<
  Parameters<Model['sample']>[0],
  'noise' | 'stepNoise' | 'returnNoise' | 'returnValues' | 'firstChunk' | 'attention'
>;

export interface ResumableOptions {
  /** Where runs keep their folders (one per model and spec). */
  root: string;
  /** Also keep and return the float images in [-1, 1]. */
  values?: boolean;
  /**
   * Each image's mean squared difference to `values` (float images in [-1, 1], all n in order,
   * drawn from the same noise: a many-step reference), computed as each chunk is drawn and kept
   * in its record, so the run resumes without keeping its own float values. `id` names the
   * reference (its folder): a chunk paired with another is drawn again.
   */
  pairedTo?: { id: string; values: Float32Array };
  /** After each chunk: chunks done, chunks in all. */
  onChunk?: (done: number, total: number) => void;
  /** Sampling steps over the whole run, as Model.sample's (kept chunks count as done). */
  onStep?: (step: number, total: number) => void;
  /**
   * Asked before each chunk is drawn: true ends the run with SamplingStopped, the chunks
   * drawn so far kept for the resume (a chunk is one engine call, which runs to its end).
   */
  stopRequested?: () => boolean;
}

/** A resumable run ended before its last chunk because a stop was requested. */
export class SamplingStopped extends Error {
  constructor(
    readonly done: number,
    readonly total: number,
  ) {
    super(`sampling stopped after ${done} of ${total} chunks; they are kept for the resume`);
    this.name = 'SamplingStopped';
  }
}

export interface ResumableResult {
  /** uint8 NHWC pixels of all n images, in order. */
  images: Uint8Array;
  /** With `values`: float32 NHWC images in [-1, 1]. */
  values?: Float32Array;
  /** With `pairedTo`: each image's mean squared difference to the reference's. */
  pairedMse?: Float64Array;
  shape: [number, number, number, number];
  nfe: number;
  steps: number;
  nonFinite: number;
  /** The adaptive sampler: network evaluations per image, and over all chunks the batched calls and image rows evaluated. */
  nfePerImage?: Int32Array;
  calls?: number;
  rowsEvaluated?: number;
  /** How softmax attention executed in the first chunk (fused unless a budget chose slices). */
  attention: AttentionExec;
  /** Sampling seconds summed over the chunks, those of earlier sittings included. */
  seconds: number;
  /** Chunks found in the folder, and sampled now. */
  chunks: { resumed: number; sampled: number };
  /** The run's folder (under the root it was given). */
  dir: string;
}

/** The engine's default chunk (GenerateSpec::chunk). */
const DEFAULT_CHUNK = 64;
const VERSION = 1;

interface ChunkRecord {
  b: number;
  attention: AttentionExec;
  seconds: number;
  nfe: number;
  steps: number;
  nonFinite: number;
  /** The adaptive sampler's per-image NFE and call counts (chunks kept before these existed have none). */
  nfePerImage?: number[];
  calls?: number;
  rowsEvaluated?: number;
  /** With `pairedTo`: the reference's id and each image's mean squared difference to it. */
  paired?: { to: string; mse: number[] };
}

/** Each of `n` images' mean squared difference between `a` and `b` (the same layout). */
export function pairedMse(a: Float32Array, b: Float32Array, n: number): Float64Array {
  if (a.length !== b.length || a.length % n !== 0)
    throw new AppError(
      'BAD_REQUEST',
      `paired images differ in size: ${a.length} and ${b.length} values for ${n} images`,
    );
  const per = a.length / n;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i * per; j < (i + 1) * per; j++) s += ((a[j] as number) - (b[j] as number)) ** 2;
    out[i] = s / per;
  }
  return out;
}

/**
 * What names a run's folder under `root`: the model's weights and everything that decides the
 * images, defaults filled in (so callers that spell a spec differently share its chunks) and
 * the schedule resolved to its sigmas (a re-learned schedule is another run); not n, so a
 * larger n reuses the chunks a smaller one drew.
 */
export function resumableKey(model: Model, spec: ResumableSpec): Record<string, unknown> {
  if (!model.dir)
    throw new AppError(
      'BAD_REQUEST',
      'resumable sampling needs a model loaded from its folder (its weights name the run)',
    );
  const weights = weightsSha256(model.dir);
  const sampler = spec.sampler ?? SAMPLING_DEFAULTS.sampler;
  const steps = spec.steps ?? SAMPLING_DEFAULTS.steps;
  const schedule = spec.schedule ?? SAMPLING_DEFAULTS.schedule;
  const resolved = spec.sigmas
    ? { sigmas: spec.sigmas }
    : resolveSchedule({
        schedule,
        sampler,
        steps,
        sigmaRange: () => model.sigmaRange({ height: spec.height, width: spec.width }),
        dir: model.dir,
        sigmaMax: spec.sigma_max,
      });
  const sigmas = resolved.sigmas ? Array.from(resolved.sigmas) : null;
  const { height, width } = sampleSides(model, spec);
  const size = model.config.unet.sample_size;
  const adaptive = sampler === 'adaptive';
  return {
    version: VERSION,
    weights,
    // One checkpoint samples at several resolutions (a multi-resolution model).
    resolution: model.config.unet.sample_size,
    sampler,
    // The adaptive sampler takes tolerances, not steps.
    steps: adaptive ? null : steps,
    rtol: adaptive ? (spec.rtol ?? null) : null,
    atol: adaptive ? (spec.atol ?? null) : null,
    // Explicit sigmas say it all; else the engine's schedule kind and its start.
    schedule: sigmas ? null : schedule,
    sigma_max: sigmas ? null : (spec.sigma_max ?? null),
    sigmas,
    seed: spec.seed ?? SAMPLING_DEFAULTS.seed,
    class: spec.class ?? null,
    guidance: spec.guidance ?? SAMPLING_DEFAULTS.guidance,
    eta: spec.eta ?? SAMPLING_DEFAULTS.eta,
    clipDenoised: spec.clipDenoised ?? null,
    dtype: spec.dtype ?? 'float32',
    chunk: spec.chunk ?? DEFAULT_CHUNK,
    // Other sides than the model's square (a multi-resolution model's aspect bucket); absent
    // for the square, so square runs keep the folders they had.
    ...(height !== size || width !== size ? { height, width } : {}),
  };
}

/** The sides `spec` samples at: its height and width, each defaulting to the model's square. */
export function sampleSides(
  model: Model,
  spec: { height?: number; width?: number },
): { height: number; width: number } {
  const size = model.config.unet.sample_size;
  return { height: spec.height ?? size, width: spec.width ?? size };
}

/**
 * Samples `spec.n` images a chunk at a time under `o.root` (one folder per model and spec),
 * each finished chunk kept before the next begins; chunks a killed run left are read, not
 * drawn again.
 */
export async function sampleResumable(
  model: Model,
  spec: ResumableSpec,
  o: ResumableOptions,
): Promise<ResumableResult> {
  const { root, onChunk, onStep, pairedTo } = o;
  const key = resumableKey(model, spec);
  const keyJson = JSON.stringify(key);
  const dir = join(root, createHash('sha256').update(keyJson).digest('hex').slice(0, 24));
  mkdirSync(dir, { recursive: true });
  const specPath = join(dir, 'spec.json');
  if (existsSync(specPath)) {
    if (readFileSync(specPath, 'utf8') !== keyJson)
      throw new AppError(
        'CONFLICT',
        `${dir} holds another run's chunks (its spec.json differs); remove the folder`,
      );
  } else writeFileAtomic(specPath, keyJson);

  const chunk = key.chunk as number;
  const total = Math.ceil(spec.n / chunk);
  const adaptive = key.sampler === 'adaptive';
  const perImage: number[] = [];
  let calls = 0;
  let rowsEvaluated = 0;
  const parts: Uint8Array[] = [];
  const valueParts: Float32Array[] = [];
  const paired: number[] = [];
  const { height, width } = sampleSides(model, spec);
  const channels = model.config.unet.out_channels;
  const per = height * width * channels;
  if (pairedTo && pairedTo.values.length < spec.n * per)
    throw new AppError(
      'BAD_REQUEST',
      `the reference ${pairedTo.id} holds ${pairedTo.values.length / per} images, ${spec.n} are paired with it`,
    );
  let shape: [number, number, number, number] | null = null;
  let seconds = 0;
  let nfe = 0;
  let steps = 0;
  let nonFinite = 0;
  let resumed = 0;
  let attention: AttentionExec | null = null;
  for (let c = 0; c < total; c++) {
    const b = Math.min(chunk, spec.n - c * chunk);
    const name = `chunk-${String(c).padStart(6, '0')}`;
    const recordPath = join(dir, `${name}.json`);
    const pixelsPath = join(dir, `${name}.u8`);
    const valuesPath = join(dir, `${name}.f32`);
    let record: ChunkRecord | null = null;
    if (existsSync(recordPath)) {
      const r = JSON.parse(readFileSync(recordPath, 'utf8')) as ChunkRecord;
      // A chunk drawn as the last (short) one of a smaller n is drawn again in full, one
      // kept without the values or paired errors asked for now is drawn again with them, and
      // an adaptive one kept without its per-image NFE is drawn again to count them.
      if (
        r.b === b &&
        (!o.values || existsSync(valuesPath)) &&
        (!pairedTo || (r.paired?.to === pairedTo.id && r.paired.mse.length === b)) &&
        (!adaptive || r.nfePerImage?.length === b)
      )
        record = r;
    }
    let pixels: Uint8Array;
    let values: Float32Array | undefined;
    if (record) {
      pixels = new Uint8Array(readFileSync(pixelsPath));
      if (o.values) {
        const raw = readFileSync(valuesPath);
        values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
      }
      resumed++;
    } else {
      if (o.stopRequested?.()) throw new SamplingStopped(c, total);
      const started = performance.now();
      const s = await model.sample(
        { ...spec, n: b, chunk, firstChunk: c, returnValues: o.values || pairedTo !== undefined },
        onStep ? (step, of) => onStep(c * of + step, total * of) : undefined,
      );
      record = {
        b,
        attention: s.attention,
        seconds: (performance.now() - started) / 1000,
        nfe: s.nfe,
        steps: s.steps,
        nonFinite: s.nonFinite,
        ...(adaptive
          ? {
              nfePerImage: Array.from(s.nfePerImage ?? []),
              calls: s.calls ?? 0,
              rowsEvaluated: s.rowsEvaluated ?? 0,
            }
          : {}),
        ...(pairedTo && s.values
          ? {
              paired: {
                to: pairedTo.id,
                mse: Array.from(
                  pairedMse(
                    s.values,
                    pairedTo.values.subarray(c * chunk * per, (c * chunk + b) * per),
                    b,
                  ),
                ),
              },
            }
          : {}),
      };
      pixels = s.images;
      values = o.values ? s.values : undefined;
      shape = s.shape;
      // The pixels (and values) first, then the record that says they are whole; a record
      // of an earlier, shorter draw goes first, so a kill in between leaves no stale pair.
      rmSync(recordPath, { force: true });
      writeFileAtomic(pixelsPath, pixels);
      if (values)
        writeFileAtomic(
          valuesPath,
          new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
        );
      writeFileAtomic(recordPath, JSON.stringify(record));
    }
    parts.push(pixels);
    if (values) valueParts.push(values);
    seconds += record.seconds;
    nfe = Math.max(nfe, record.nfe);
    steps = Math.max(steps, record.steps);
    nonFinite += record.nonFinite;
    if (adaptive) {
      perImage.push(...(record.nfePerImage ?? []));
      calls += record.calls ?? 0;
      rowsEvaluated += record.rowsEvaluated ?? 0;
    }
    if (pairedTo) paired.push(...(record.paired?.mse ?? []));
    attention ??= record.attention;
    onChunk?.(c + 1, total);
  }
  shape ??= [spec.n, height, width, channels];
  const images = new Uint8Array(spec.n * per);
  let at = 0;
  for (const p of parts) {
    images.set(p, at);
    at += p.length;
  }
  if (at !== images.length)
    throw new AppError(
      'CONFLICT',
      `${dir}: its chunks hold ${at} bytes, ${images.length} expected; remove the folder`,
    );
  let values: Float32Array | undefined;
  if (o.values) {
    values = new Float32Array(images.length);
    let v = 0;
    for (const p of valueParts) {
      values.set(p, v);
      v += p.length;
    }
  }
  return {
    images,
    values,
    shape: [spec.n, shape[1], shape[2], shape[3]],
    nfe,
    steps,
    nonFinite,
    ...(adaptive ? { nfePerImage: Int32Array.from(perImage), calls, rowsEvaluated } : {}),
    ...(pairedTo ? { pairedMse: Float64Array.from(paired) } : {}),
    attention: attention ?? { kind: 'fused' },
    seconds,
    chunks: { resumed, sampled: total - resumed },
    dir,
  };
}
