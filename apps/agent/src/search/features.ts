// The features a search's evaluations compared, kept so the proxy's rank correlation can say
// how sure it is (quality/bootstrap.ts, paired resamples). Every evaluation of one search has
// the same seed, n and real set, so its samples pair row by row: the same noise and class.
// Each candidate's are kept beside its checkpoint, named by the training they measured (a
// folder trained on keeps no stale ones under its new name); the real set's in the folder.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@anneal/engine';
import { type FeatureMatrix, featureMatrix } from '@anneal/engine/metrics';
import { z } from 'zod';
import type { RungPoint } from './proxy-store.ts';

const REAL_FEATURES_FILE = 'eval-real-features.f32';
const STRATA_FILE = 'eval-strata.json';

/** Rows resampled within their class: the real set's and the samples' (absent: unconditional). */
export interface Strata {
  reference?: ArrayLike<number>;
  candidate?: ArrayLike<number>;
}

/** A candidate's evaluation features in its folder `dir`, for its training to `point`. */
export function evalFeaturesPath(dir: string, point: RungPoint): string {
  return join(dir, `eval-features-${point}.f32`);
}

/** n and dim as little-endian uint32, then the rows as float32 (FD moves in the 7th digit). */
export function writeFeatures(path: string, m: FeatureMatrix): void {
  const bytes = new Uint8Array(8 + 4 * m.n * m.dim);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, m.n, true);
  view.setUint32(4, m.dim, true);
  new Float32Array(bytes.buffer, 8).set(m.data);
  writeFileAtomic(path, bytes);
}

/** The features at `path`, or null when there are none or they are not whole. */
export function readFeatures(path: string): FeatureMatrix | null {
  if (!existsSync(path)) return null;
  const file = readFileSync(path);
  if (file.length < 8) return null;
  const view = new DataView(file.buffer, file.byteOffset, file.length);
  const n = view.getUint32(0, true);
  const dim = view.getUint32(4, true);
  if (n < 1 || dim < 1 || file.length !== 8 + 4 * n * dim) return null;
  // Copied out: the file's buffer need not be 4-byte aligned past its header.
  const data = new Float32Array(new Uint8Array(file.subarray(8)).buffer);
  return featureMatrix(data, n, dim);
}

const strataSchema = z.object({
  reference: z.array(z.number().int()).optional(),
  candidate: z.array(z.number().int()).optional(),
});

/**
 * Keeps the search's real set (features and classes) in its folder `out`: written with every
 * evaluation (the same set each time, for one seed and n), so it is the last one's.
 */
export function writeRealSet(out: string, real: FeatureMatrix, strata: Strata): void {
  writeFileAtomic(
    join(out, STRATA_FILE),
    `${JSON.stringify({
      ...(strata.reference ? { reference: Array.from(strata.reference) } : {}),
      ...(strata.candidate ? { candidate: Array.from(strata.candidate) } : {}),
    })}\n`,
  );
  writeFeatures(join(out, REAL_FEATURES_FILE), real);
}

/** The search's real set, as `writeRealSet` kept it; null when it was not. */
export function readRealSet(out: string): { real: FeatureMatrix; strata: Strata } | null {
  const real = readFeatures(join(out, REAL_FEATURES_FILE));
  const strataPath = join(out, STRATA_FILE);
  if (!real || !existsSync(strataPath)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(strataPath, 'utf8'));
  } catch {
    return null;
  }
  const strata = strataSchema.safeParse(raw);
  return strata.success ? { real, strata: strata.data } : null;
}
