// A full training's rate decay (issue 19): the rungs' constant rate up to the last rung, then a
// cosine to 0 at the full training's end, on a trainer swapped at the boundary; a training
// stopped inside the decay resumes exactly where an uninterrupted one would be. A candidate
// starts from the teacher's weights, narrowed or exact as the settings say.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '@anneal/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDataset } from '../dataset.ts';
import { modelDataset } from '../quality/model-dataset.ts';
import { trainTinyModel } from '../testing/run-cli.ts';
import { type ProxySettings, studentConfig, trainRung } from './proxy.ts';
import { candidateName } from './space.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-proxy-home-'));
const root = mkdtempSync(join(tmpdir(), 'anneal-proxy-'));
let teacher: Model;
let dataset: LocalDataset;

const settings: ProxySettings = {
  sampler: 'ddim',
  steps: 2,
  n: 4,
  batch: 4,
  lr: 1e-3,
  emaDecay: 0.999,
  outputWeight: 1,
  inherit: 'narrowed',
  seed: 0,
  checkpointEvery: 2,
};

beforeAll(async () => {
  trainTinyModel(join(root, 'teacher'), home, 2);
  teacher = Model.load(join(root, 'teacher'));
  dataset = await modelDataset(teacher.config, join(root, 'teacher', 'config.json'), home);
});
afterAll(() => teacher?.dispose());

/** Trains the teacher's own shape as a student to `iters`; each step's loss and rate. */
async function train(dir: string, iters: number, anneal?: { from: number; to: number }) {
  const steps: { step: number; loss: number; lr: number }[] = [];
  const { model, step } = await trainRung({
    teacher,
    candidate: { name: candidateName(teacher.config.unet), unet: teacher.config.unet },
    dataset,
    dir: join(root, dir),
    iters,
    maxIters: 8,
    settings,
    anneal,
    onStep: (s, loss, lr) => steps.push({ step: s, loss, lr }),
  });
  model?.dispose();
  return { steps, step };
}

describe('trainRung with a decay', () => {
  it('holds the rungs rate to the last rung, then follows the cosine to 0; a stop inside the decay resumes exactly', async () => {
    const anneal = { from: 8, to: 12 };
    const straight = await train('straight', 12, anneal);
    const constant = await train('constant', 12);
    expect(straight.step).toBe(12);
    const lr = straight.steps.map((s) => s.lr);
    // Warm-up (min(100, 8/10) = 0 steps here), then the rate as set until the last rung.
    for (const r of lr.slice(0, 8)) expect(r).toBeCloseTo(settings.lr, 12);
    // Steps 8..11: 1e-3 * (1 + cos(pi * k / 4)) / 2, k = 0..3; to 0 at 12.
    const cosine = [0, 1, 2, 3].map((k) => (settings.lr * (1 + Math.cos((Math.PI * k) / 4))) / 2);
    for (const [k, r] of lr.slice(8).entries()) expect(r).toBeCloseTo(cosine[k] as number, 9);
    // Without the decay the same steps stay at the rate, and up to the boundary nothing differs.
    for (const r of constant.steps.map((s) => s.lr)) expect(r).toBeCloseTo(settings.lr, 12);
    expect(constant.steps.slice(0, 9).map((s) => s.loss)).toEqual(
      straight.steps.slice(0, 9).map((s) => s.loss),
    );
    expect(constant.steps.slice(10).map((s) => s.loss)).not.toEqual(
      straight.steps.slice(10).map((s) => s.loss),
    );
    // Stopped at 10 (inside the decay) and resumed: the same losses and rates as straight.
    const first = await train('stopped', 10, anneal);
    const rest = await train('stopped', 12, anneal);
    expect(first.step).toBe(10);
    expect([...first.steps, ...rest.steps]).toEqual(straight.steps);
    // Stopped before the boundary and resumed across it: the same again.
    await train('early', 6, anneal);
    const across = await train('early', 12, anneal);
    expect(across.steps).toEqual(straight.steps.slice(6));
  }, 240_000);
});

describe('trainRung from the teacher', () => {
  it("starts a narrower candidate from the teacher's narrowed weights, or exact ones", async () => {
    const t = teacher.config.unet;
    const unet = {
      ...t,
      block_out_channels: t.block_out_channels.map((w, i) => (i === 0 ? w / 2 : w)),
    };
    const candidate = { name: candidateName(unet), unet };
    const [h, c] = [t.sample_size, t.in_channels];
    const x = Float32Array.from({ length: h * h * c }, (_, i) => Math.sin(i * 0.37));
    const run = (m: Model) =>
      m.native.forward(x, [1, h, h, c], Float32Array.of(500), Int32Array.of(0));
    for (const inherit of ['narrowed', 'exact'] as const) {
      // No iterations: the weights it starts from (the EMA of no steps).
      const { model } = await trainRung({
        teacher,
        candidate,
        dataset,
        dir: join(root, `start-${inherit}`),
        iters: 0,
        maxIters: 8,
        settings: { ...settings, inherit },
      });
      const created = Model.create(studentConfig(teacher.config, candidate), settings.seed);
      const counts = created.inheritFrom(teacher, { narrow: inherit === 'narrowed' });
      expect(counts.narrowed > 0).toBe(inherit === 'narrowed');
      // The rung's model is its checkpoint, loaded: compared as a checkpoint too, since a
      // loaded model's layouts may round differently from one built in memory.
      created.save(join(root, `expected-${inherit}`));
      created.dispose();
      const expected = Model.load(join(root, `expected-${inherit}`));
      expect(model?.dir).toBe(join(root, `start-${inherit}`));
      expect(run(model as Model)).toEqual(run(expected));
      model?.dispose();
      expected.dispose();
    }
  }, 120_000);
});
