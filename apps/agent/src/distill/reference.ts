// The reference every distillation decision is read against (issue 12): the teacher sampled
// with DDIM at 32 steps, no guidance, measured once at n = eval-n and cached with its samples
// under ANNEAL_HOME, keyed by the teacher's weights hash, n, seed and extractor. Later runs
// (and resumed ones) reuse it and never recompute it. A run also keeps a copy in its own
// folder (DIR/reference/), so a run committed or moved to another machine resumes without
// drawing it again (about half an hour on a 2-core CPU at n = 1000).
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAnnealHome } from '@anneal/core/home';
import { loadNative, type Model, type ModelConfig, writeFileAtomic } from '@anneal/engine';
import type { QualityRuler } from '../quality/evaluate.ts';
import { type Measured, measureModel, type ReferenceImages } from './measure.ts';

export const REFERENCE_STEPS = 32;

/** sha256 of a file, streamed (weights can be large). */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The teacher's 32-step DDIM grid: the sigma list `anneal sample --sampler ddim --steps 32`
 * samples on (the model's default schedule for DDIM: uniform in t on a VP table).
 */
export function referenceGrid(config: ModelConfig): number[] {
  const vp = config.parameterization !== 'edm' && config.parameterization !== 'consistency';
  if (!vp)
    throw new RangeError(
      `the teacher's parameterization is ${config.parameterization}; distillation starts from a VP teacher (eps, v or x0)`,
    );
  return loadNative().sampling.sigmas({ steps: REFERENCE_STEPS, schedule: 'uniform' }, config);
}

export interface Reference extends Measured, ReferenceImages {
  sigmas: number[];
  n: number;
  seed: number;
  extractor: string;
  teacherSha256: string;
  floor: QualityRuler['floor'];
  cached: boolean;
  dir: string;
}

type Stored = Omit<Reference, 'images' | 'cached' | 'dir'>;

export function referenceDir(
  home: string,
  key: { teacherSha256: string; n: number; seed: number; extractor: string },
): string {
  return join(
    home,
    'distill',
    'references',
    key.teacherSha256,
    `n${key.n}-seed${key.seed}-${key.extractor}`,
  );
}

export async function obtainReference(o: {
  teacher: Model;
  teacherSha256: string;
  ruler: QualityRuler;
  n: number;
  seed: number;
  latencyBatch: number;
  home?: string;
  /** The run's folder: its reference/ copy is read first and written when missing. */
  runDir?: string;
  onProgress?: (done: number, total: number) => void;
}): Promise<Reference> {
  const key = {
    teacherSha256: o.teacherSha256,
    n: o.n,
    seed: o.seed,
    extractor: o.ruler.extractor.id,
  };
  const dir = referenceDir(o.home ?? resolveAnnealHome(), key);
  const kept = o.runDir ? join(o.runDir, 'reference') : null;
  const keep = (from: string) => {
    if (!kept || from === kept || readStored(kept, key)) return;
    mkdirSync(kept, { recursive: true });
    // Samples first, as below: reference.json marks a complete copy.
    copyFileSync(join(from, 'samples.u8'), join(kept, 'samples.u8'));
    copyFileSync(join(from, 'reference.json'), join(kept, 'reference.json'));
  };
  for (const at of kept ? [kept, dir] : [dir]) {
    const found = readStored(at, key);
    if (!found) continue;
    keep(at);
    return { ...found.stored, images: found.images, cached: true, dir: at };
  }
  const sigmas = referenceGrid(o.teacher.config);
  const m = await measureModel({
    ruler: o.ruler,
    model: o.teacher,
    grid: { sampler: 'ddim', sigmas },
    n: o.n,
    seed: o.seed,
    latencyBatch: o.latencyBatch,
    onProgress: o.onProgress,
  });
  const { images, ...measured } = m;
  const stored: Stored = {
    ...measured,
    sigmas,
    n: o.n,
    seed: o.seed,
    extractor: o.ruler.extractor.id,
    teacherSha256: o.teacherSha256,
    floor: o.ruler.floor,
  };
  mkdirSync(dir, { recursive: true });
  // Samples first: reference.json appears only once both are complete.
  writeFileAtomic(join(dir, 'samples.u8'), images);
  writeFileAtomic(join(dir, 'reference.json'), `${JSON.stringify(stored, null, 2)}\n`);
  keep(dir);
  return { ...stored, images, cached: false, dir };
}

/**
 * A complete stored reference in `dir` for this key, or null: a copy kept by another run of
 * another teacher, n, seed or extractor is not this run's reference.
 */
function readStored(
  dir: string,
  key: { teacherSha256: string; n: number; seed: number; extractor: string },
): { stored: Stored; images: Uint8Array } | null {
  const meta = join(dir, 'reference.json');
  const samples = join(dir, 'samples.u8');
  if (!existsSync(meta) || !existsSync(samples)) return null;
  const stored = JSON.parse(readFileSync(meta, 'utf8')) as Stored;
  if (
    stored.teacherSha256 !== key.teacherSha256 ||
    stored.n !== key.n ||
    stored.seed !== key.seed ||
    stored.extractor !== key.extractor
  )
    return null;
  const images = new Uint8Array(readFileSync(samples));
  return images.length === stored.shape.reduce((a, b) => a * b, 1) ? { stored, images } : null;
}
