import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng, tileGrid } from '@anneal/core/png';
import { type Trainer, writeFileAtomic } from '@anneal/engine';
import { type SampleIndex, type SamplesEvent, sampleIndexSchema } from '@anneal/protocol';

export type { SampleIndex };

/** Where `anneal train` keeps its sample grids, inside the checkpoint folder. */
export const SAMPLES_DIR = 'samples';
export const SAMPLE_INDEX_FILE = 'index.json';

/**
 * A cheap grid: 16 images of the ODE sampler at 20 steps costs 40 NFE per image, a few
 * training steps' worth on the presets. Changing these changes what frames compare against,
 * so a folder's index records them and a resumed run keeps the ones it started with.
 */
export const SAMPLE_GRID_DEFAULTS = { n: 16, sampler: 'dpmpp-2m', steps: 20, pad: 2 } as const;

/**
 * The noise seed of the grids: fixed by the training seed, so every frame of a run, and of
 * its resumed sittings, starts from the same noise. Offset so it is not the weights' seed.
 */
export function sampleSeed(trainingSeed: number): number {
  return (trainingSeed + 0x5eed) % 2 ** 31;
}

/**
 * Reads the folder's index, or null when it has none (a folder trained before grids) or it
 * cannot be read. Grids are a view of the training, never a reason to stop it: an index cut
 * short (a crash or full disk mid-write) or of another shape is treated as none, and `warn`
 * hears one line naming the file; the next grid starts a new index.
 */
export function readSampleIndex(out: string, warn?: (line: string) => void): SampleIndex | null {
  const path = join(out, SAMPLES_DIR, SAMPLE_INDEX_FILE);
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    warn?.(
      `warning: ignoring the unreadable sample grid index ${path} (${(e as Error).message}); the next grid starts a new one`,
    );
    return null;
  }
  const parsed = sampleIndexSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    warn?.(
      `warning: ignoring the sample grid index ${path} (${issue?.path.join('.') || '(root)'}: ${issue?.message}); the next grid starts a new one`,
    );
    return null;
  }
  return parsed.data;
}

/**
 * Keeps the index in step with a resume: frames past the resumed step were made by weights
 * that no longer exist, so they are dropped (their PNGs are overwritten when reached again).
 */
export function truncateSampleIndex(
  out: string,
  step: number,
  warn?: (line: string) => void,
): void {
  const index = readSampleIndex(out, warn);
  if (!index) return;
  writeIndex(out, { ...index, frames: index.frames.filter((f) => f.step <= step) });
}

/** Atomic, so a reader (a resume, the agent's upload) never sees half an index. */
function writeIndex(out: string, index: SampleIndex): string {
  const path = join(out, SAMPLES_DIR, SAMPLE_INDEX_FILE);
  writeFileAtomic(path, `${JSON.stringify(index, null, 2)}\n`);
  return path;
}

/** What a run's grids are made with: the folder's own settings when it has an index. */
export function sampleGridSettings(
  out: string,
  options: { seed: number; size: number; classNames: string[] | null },
): Omit<SampleIndex, 'frames'> {
  const existing = readSampleIndex(out);
  if (existing) {
    const { frames: _, ...settings } = existing;
    return settings;
  }
  const { n, sampler, steps, pad } = SAMPLE_GRID_DEFAULTS;
  const names = options.classNames;
  return {
    n,
    sampler,
    steps,
    seed: sampleSeed(options.seed),
    columns: Math.ceil(Math.sqrt(n)),
    pad,
    size: options.size,
    // The engine gives image i class i mod K when no class is asked for.
    classes: names?.length
      ? Array.from({ length: n }, (_, i) => names[i % names.length] as string)
      : null,
  };
}

/**
 * Samples a grid from the trainer's EMA weights (the weights a checkpoint saves) and writes
 * DIR/samples/step-<step>.png and the index. The trainer must be idle (between chunks).
 */
export async function writeSampleGrid(
  trainer: Trainer,
  out: string,
  settings: Omit<SampleIndex, 'frames'>,
  wallS: number,
): Promise<SamplesEvent> {
  const step = trainer.step;
  const ema = trainer.ema();
  let result: Awaited<ReturnType<typeof ema.sample>>;
  try {
    result = await ema.sample({
      n: settings.n,
      sampler: settings.sampler,
      steps: settings.steps,
      seed: settings.seed,
      // 1: the model conditioned on each image's class, one network evaluation per step
      // (0 would be the unconditional model, with the index's classes not applied).
      guidance: 1,
    });
  } finally {
    ema.dispose();
  }
  const grid = tileGrid(result.images, result.shape, {
    columns: settings.columns,
    pad: settings.pad,
  });
  const dir = join(out, SAMPLES_DIR);
  mkdirSync(dir, { recursive: true });
  const name = `step-${step}.png`;
  const file = join(dir, name);
  writeFileAtomic(
    file,
    encodePng(grid.pixels, grid.width, grid.height, grid.channels as 1 | 3 | 4),
  );
  const frames = (readSampleIndex(out)?.frames ?? []).filter((f) => f.step !== step);
  frames.push({ step, file: name, wall_s: wallS });
  frames.sort((a, b) => a.step - b.step);
  const index = writeIndex(out, { ...settings, frames });
  return { event: 'samples', step, file, index };
}
