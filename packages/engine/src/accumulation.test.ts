import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model, presetUNet, Trainer } from './index.ts';
import { trainerWeights, weightDiff } from './testing/weights.ts';

// Gradient accumulation (issue 16 §3): k micro-batches of b are one batch of k*b. The
// micro-batches draw their noise, sigmas and dropped labels as rows of the effective batch's
// draw (objective.h, BatchRows), and take the effective batch's indices in the data order, so
// the only difference from one batch of k*b is where the per-example gradients are summed:
// inside one graph, or as k partial means added after each micro-batch's evaluation.

const home = mkdtempSync(join(tmpdir(), 'anneal-accumulation-'));
let shards: string[] = [];

beforeAll(async () => {
  const m = await materialize(
    { kind: 'builtin', name: 'shapes', options: { count: 200, heldOut: 20, seed: 4 } },
    { resolution: 8, home },
  );
  shards = m.manifest.splits.train.shards.map((s) => join(m.dir, s.file));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

const LR = 1e-3;

function trainer(accumulationSteps: number, gradClip = 1.0, batch = 8, dropout = 0) {
  const model = Model.create(
    {
      unet: {
        ...presetUNet('tiny', { resolution: 8, channels: 3, numClasses: 5 }),
        block_out_channels: [16, 32],
        dropout,
      },
      parameterization: 'eps',
    },
    7,
  );
  return Trainer.create({
    model,
    shards,
    numClasses: 5,
    batch,
    accumulationSteps,
    totalSteps: 20,
    lr: LR,
    warmup: 0,
    gradClip,
    seed: 3,
  });
}

async function run(t: Trainer, steps: number) {
  const reports: Array<{ loss: number; gradNorm: number }> = [];
  for await (const r of t.run(steps)) reports.push({ loss: r.loss, gradNorm: r.gradNorm });
  return reports;
}

const rawParams = (t: Trainer) => trainerWeights(t, home);
const maxParamDiff = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) =>
  weightDiff(a, b, 1e-3 * LR);

/*
 * Tolerances. The per-example terms are identical; their float32 sums differ in order, so
 * loss and gradients agree to a few float32 ulps of the sum's magnitude (relative 1e-5 leaves
 * a wide margin for batches of 8). AdamW's update is lr * m^/(sqrt(v^) + eps): for a
 * gradient component well above eps = 1e-8 a relative error d moves it by about lr * d
 * (nothing), but for one near or below eps it is about lr * g / eps, which an absolute
 * rounding error e of the sum moves by lr * e / eps: with e ~ 1e-10 (float32 rounding of
 * sums of terms up to ~1e-3), up to a few percent of lr per step, on the few components whose
 * gradient is that small. So: every weight within 5% of lr per step, and all but a small
 * share (1%) within 0.1% of lr. (Measured on this machine: 4% of lr at most, on 0.07% of the
 * weights.) A wrong accumulation (a sum instead of a mean, clipping per micro-batch, another
 * micro-batch's noise) moves nearly every weight by a sizeable part of lr.
 */
const STEPS = 3;
function expectSameWeights(a: Trainer, b: Trainer) {
  const d = maxParamDiff(rawParams(a), rawParams(b));
  expect(d.max).toBeLessThanOrEqual(STEPS * 0.05 * LR);
  expect(d.share).toBeLessThanOrEqual(0.01);
}

describe('gradient accumulation', () => {
  for (const k of [2, 4]) {
    it(`${k} micro-batches of ${8 / k} equal one batch of 8 (loss, grad norm, weights)`, async () => {
      const whole = trainer(1);
      const split = trainer(k);
      const a = await run(whole, STEPS);
      const b = await run(split, STEPS);
      for (const [i, r] of a.entries()) {
        const s = b[i] as { loss: number; gradNorm: number };
        expect(Math.abs(s.loss - r.loss)).toBeLessThanOrEqual(1e-5 * r.loss);
        expect(Math.abs(s.gradNorm - r.gradNorm)).toBeLessThanOrEqual(1e-5 * r.gradNorm);
      }
      expectSameWeights(whole, split);
      // A control: the same trainer one step further is far outside the tolerance.
      await run(whole, 1);
      expect(maxParamDiff(rawParams(whole), rawParams(split)).share).toBeGreaterThan(0.5);
    }, 120_000);
  }

  it('clips the averaged gradient, not each micro-batch', async () => {
    // A clip far below the gradient norm: every step is clipped by norm / clip.
    const clip = 1e-3;
    const whole = trainer(1, clip);
    const split = trainer(2, clip);
    const a = await run(whole, STEPS);
    const b = await run(split, STEPS);
    for (const [i, r] of a.entries()) {
      expect(r.gradNorm).toBeGreaterThan(10 * clip);
      expect(Math.abs((b[i]?.gradNorm ?? 0) - r.gradNorm)).toBeLessThanOrEqual(1e-5 * r.gradNorm);
    }
    expectSameWeights(whole, split);
  }, 120_000);

  it('resumes exactly between accumulated steps', async () => {
    const dir = mkdtempSync(join(home, 'resume-'));
    const straight = trainer(2);
    const full = await run(straight, 4);
    const first = trainer(2);
    await run(first, 2);
    first.saveCheckpoint(dir, first.model.config);
    const second = trainer(2);
    second.resume(dir);
    expect(await run(second, 2)).toEqual(full.slice(2));
    expect(maxParamDiff(rawParams(second), rawParams(straight)).max).toBe(0);
  }, 120_000);

  it('changes the micro-batches between steps without changing the trajectory', async () => {
    // A progressive run's stages each get their own plan: 1, then 4, then 2 micro-batches.
    const whole = trainer(1);
    const changing = trainer(1);
    const a = await run(whole, 3);
    const b = [...(await run(changing, 1))];
    changing.setAccumulationSteps(4);
    b.push(...(await run(changing, 1)));
    changing.setAccumulationSteps(2);
    b.push(...(await run(changing, 1)));
    for (const [i, r] of a.entries())
      expect(Math.abs((b[i]?.gradNorm ?? 0) - r.gradNorm)).toBeLessThanOrEqual(1e-5 * r.gradNorm);
    expectSameWeights(whole, changing);
    expect(() => changing.setAccumulationSteps(3)).toThrow(
      /k \(3\) must be a divisor of the batch \(8\)/,
    );
  }, 120_000);

  it('refuses accumulation steps that do not divide the batch, naming both', () => {
    expect(() => trainer(3)).toThrow(/accumulationSteps \(3\) must divide options.batchSize \(8\)/);
  });

  it('with U-Net dropout, draws each micro-batch its own masks from the step key, reproducibly', async () => {
    // Each micro-batch's dropout key is the step key split once per micro-batch
    // (BatchRows::dropout_key): the run is deterministic, and dropout acts under accumulation.
    // (That two micro-batches' masks differ is not observable from here; see docs/memory.md.)
    const a = await run(trainer(2, 1.0, 8, 0.5), 2);
    const b = await run(trainer(2, 1.0, 8, 0.5), 2);
    const none = await run(trainer(2, 1.0, 8, 0), 2);
    expect(b).toEqual(a);
    for (const r of a) expect(Number.isFinite(r.loss)).toBe(true);
    expect(a[0]?.loss).not.toBe(none[0]?.loss);
  });
});
