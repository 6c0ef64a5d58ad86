// Fixtures of the distillation tests with real U-Nets: tiny models on 8x8 shapes, a v teacher
// (random init: a fixed function is all distillation needs), its students, and the trainer
// with each objective.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { consistencySigmas, Model, presetUNet, Trainer, type TrainingObjective } from '../index.ts';

/** A temporary ANNEAL_HOME for the shards (one per test file). */
export const distillHome = mkdtempSync(join(tmpdir(), 'anneal-distill-'));

/** The train split's shard files of 400 8x8 shapes in 5 classes (call in beforeAll). */
export async function tinyShapesShards(): Promise<string[]> {
  const m = await materialize(
    { kind: 'builtin', name: 'shapes', options: { count: 400, heldOut: 50, seed: 3 } },
    { resolution: 8, home: distillHome },
  );
  return m.manifest.splits.train.shards.map((f) => join(m.dir, f.file));
}

export const vConfig = () => ({
  unet: {
    ...presetUNet('tiny', { resolution: 8, channels: 3, numClasses: 5 }),
    block_out_channels: [16, 32],
  },
  parameterization: 'v' as const,
});

/** A PD grid of 2 student steps (5 teacher points) inside the linear table's range. */
export const GRID = [20, 6, 2, 0.6, 0];

export type DistillKind = 'progressive' | 'consistency-distillation' | 'consistency-training';

/** A trainer of `kind`'s student of a fresh teacher (seed `teacherSeed`) on `shards`. */
export function distiller(
  kind: DistillKind,
  shards: string[],
  opts: {
    compile?: boolean;
    lr?: number;
    steps?: number;
    teacherSeed?: number;
    grid?: number[];
    weighting?: 'snr+1';
  } = {},
) {
  const teacher = Model.create(vConfig(), opts.teacherSeed ?? 11);
  const student =
    kind === 'progressive'
      ? Model.studentOf(teacher, { kind: 'progressive' })
      : Model.studentOf(teacher, { kind: 'consistency' });
  // Consistency training over 20 steps halves its gap every 3 (totalSteps / 8), so a resume
  // test crosses a curriculum stage.
  const objective: TrainingObjective =
    kind === 'progressive'
      ? { kind, teacher, sigmas: opts.grid ?? GRID, weighting: opts.weighting }
      : kind === 'consistency-distillation'
        ? { kind, teacher, sigmas: consistencySigmas(teacher, 6) }
        : { kind };
  const trainer = Trainer.create({
    model: student,
    shards,
    numClasses: 5,
    batch: 8,
    totalSteps: opts.steps ?? 20,
    lr: opts.lr ?? 1e-3,
    warmup: 2,
    seed: 1,
    compile: opts.compile,
    objective,
  });
  // The trainer holds the teacher's weights itself.
  teacher.dispose();
  return trainer;
}

export async function runSteps(t: Trainer, n: number) {
  const losses: number[] = [];
  for await (const r of t.run(n)) losses.push(r.loss);
  return losses;
}
