import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type AttentionExec,
  attentionBytes,
  estimateSamplingMemory,
  estimateTrainingMemory,
  Model,
  presetUNet,
  Trainer,
  trainingActivationBytesPerImage,
  trainingEstimate,
  unetCost,
} from './index.ts';
import { runSteps } from './testing/distill-fixtures.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-attention-'));
// 16x16 shapes: the tiny preset attends at 8x8 (64 tokens) in its down, mid and up blocks.
const config = () => ({
  unet: presetUNet('tiny', { resolution: 16, channels: 3 }),
  parameterization: 'eps' as const,
});
let shards: string[];

beforeAll(async () => {
  const m = await materialize(
    { kind: 'builtin', name: 'shapes', options: { count: 64, heldOut: 8, seed: 5 } },
    { resolution: 16, home },
  );
  shards = m.manifest.splits.train.shards.map((f) => join(m.dir, f.file));
});

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe('attention chosen by the memory budget', () => {
  it('samples with sliced attention when fused would not fit, to the same images', async () => {
    const model = Model.create(config(), 3);
    const spec = { n: 4, steps: 3, sampler: 'ddim' as const, seed: 1, returnValues: true };
    const rest = estimateSamplingMemory(model.config.unet, { n: 4 }).total;
    const fused = attentionBytes(model.config.unet, { batch: 4 }).total;
    const roomy = await model.sample({ ...spec, budget: { bytes: rest + fused, source: 'test' } });
    const tight = await model.sample({
      ...spec,
      budget: { bytes: rest + fused - 1, source: 'test' },
    });
    expect(roomy.attention).toEqual({ kind: 'fused' });
    expect(tight.attention).toEqual({ kind: 'sliced', slice: 32 });
    // Three DDIM steps through a U-Net whose attention rows agree to float32 rounding
    // (attention.test.ts); the steps do not amplify differences of that size by more than
    // a few times.
    const a = roomy.values as Float32Array;
    const b = tight.values as Float32Array;
    let diff = 0;
    for (let i = 0; i < a.length; i++)
      diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    expect(diff).toBeLessThanOrEqual(64 * 64 * 2 ** -24 * maxAbs(a) * 3);
    model.dispose();
  });

  it('chooses sliced training attention under a tight budget, and trains as fused does (compiled)', async () => {
    const batch = 4;
    const unet = config().unet;
    // The estimate with fused attention, and the job without attention at all: a budget
    // between them leaves too little for fused, enough for slices, and the job then fits
    // (attention is counted once, as the chosen execution's bytes; counting fused's scores
    // in the rest as well would refuse it).
    const withFused = estimateTrainingMemory(unet, batch).total;
    const cost = unetCost(unet);
    const rest = trainingEstimate(trainingActivationBytesPerImage(cost, 0), cost.parameters, {
      batch,
      accumulationSteps: 1,
    }).total;
    expect(rest).toBeLessThan(withFused);
    const make = (o: { bytes?: number; attention?: AttentionExec }) =>
      Trainer.create({
        model: Model.create(config(), 7),
        shards,
        numClasses: 0,
        batch,
        totalSteps: 3,
        seed: 2,
        ...(o.bytes ? { budget: { bytes: o.bytes, source: 'test' } } : {}),
        ...(o.attention ? { attention: o.attention } : {}),
      });
    // Rounding: the estimate ceils its per-image bytes; a few bytes above it is fused's room.
    const roomy = make({ bytes: withFused + 64 });
    const tight = make({ bytes: Math.floor((rest + withFused) / 2) });
    expect(roomy.attention.exec).toEqual({ kind: 'fused' });
    expect(tight.attention.exec.kind).toBe('sliced');
    expect(tight.attention.summary).toMatch(/^sliced, \d+ queries per slice/);
    roomy.model.dispose();
    tight.model.dispose();
    // The runs themselves without a budget: the tight budget is below fused's estimate, and
    // the comparison needs both executions run.
    const a = make({ attention: { kind: 'fused' } });
    const b = make({ attention: { kind: 'sliced', slice: 16 } });
    const la = await runSteps(a, 3);
    const lb = await runSteps(b, 3);
    // The same data, keys and weights; only rounding differs (float32 sums over 64 keys per
    // row, in another order for dK and dV, ~1e-7 relative), which three AdamW steps carry into
    // the loss without growing it past 1e-4 relative; a softmax over the wrong keys changes
    // the first loss by O(1).
    for (let i = 0; i < 3; i++)
      expect(Math.abs((lb[i] as number) - (la[i] as number))).toBeLessThan(
        1e-4 * Math.abs(la[i] as number),
      );
    expect(la[0]).not.toBe(la[2]);
    a.model.dispose();
    b.model.dispose();
  });
});
