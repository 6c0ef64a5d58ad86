import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { describe, expect, it } from 'vitest';
import { Model, presetUNet, runAttention, Trainer, unetCost } from './index.ts';
import { tinyShapesShards } from './testing/distill-fixtures.ts';

const U = 2 ** -24;

/**
 * Katharopoulos et al. 2020, eq. 6, in double precision: O_i = phi(q_i)^T (sum_j phi(k_j)
 * v_j^T) / (phi(q_i)^T sum_j phi(k_j)), phi(x) = elu(x) + 1, per batch and head.
 */
function linearAttention(q: Float32Array, k: Float32Array, v: Float32Array, n: number, d: number) {
  const phi = (x: number) => (x > 0 ? x + 1 : Math.exp(x));
  const out = new Float64Array(q.length);
  for (let base = 0; base < q.length; base += n * d) {
    const kv = new Float64Array(d * d);
    const z = new Float64Array(d);
    for (let j = 0; j < n; j++)
      for (let a = 0; a < d; a++) {
        const fk = phi(k[base + j * d + a] as number);
        z[a] = (z[a] as number) + fk;
        for (let b = 0; b < d; b++)
          kv[a * d + b] = (kv[a * d + b] as number) + fk * (v[base + j * d + b] as number);
      }
    for (let i = 0; i < n; i++) {
      let den = 0;
      for (let a = 0; a < d; a++) den += phi(q[base + i * d + a] as number) * (z[a] as number);
      for (let b = 0; b < d; b++) {
        let num = 0;
        for (let a = 0; a < d; a++)
          num += phi(q[base + i * d + a] as number) * (kv[a * d + b] as number);
        out[base + i * d + b] = num / den;
      }
    }
  }
  return out;
}

describe('linear attention', () => {
  it("is Katharopoulos et al.'s eq. 6 with phi = elu + 1", async () => {
    const shape = { batch: 2, heads: 3, tokens: 20, headDim: 4 };
    const r = await runAttention({
      ...shape,
      kind: 'linear',
      seed: 9,
      iterations: 0,
      keepValues: true,
    });
    const want = linearAttention(
      r.q as Float32Array,
      r.k as Float32Array,
      r.v as Float32Array,
      20,
      4,
    );
    const got = r.output as Float32Array;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < want.length; i++) {
      scale = Math.max(scale, Math.abs(want[i] as number));
      diff = Math.max(diff, Math.abs((got[i] as number) - (want[i] as number)));
    }
    // float32 sums of N = 20 positive terms (numerator and normalizer): relative error within
    // about N u each; a ratio of two, so 4 N u of the output's scale.
    expect(diff).toBeLessThanOrEqual(4 * 20 * U * scale);
  });

  it('is a model option: same weights, another function, recorded in config.json, loads and samples', async () => {
    const unet = presetUNet('tiny', { resolution: 16, channels: 1 });
    const softmax = Model.create({ unet, parameterization: 'eps' }, 5);
    const linear = Model.create(
      { unet: { ...unet, linear_attention: true }, parameterization: 'eps' },
      5,
    );
    expect(linear.native.parameterNames()).toEqual(softmax.native.parameterNames());
    const x = Float32Array.from({ length: 16 * 16 }, (_, i) => Math.cos(i * 0.21));
    const t = new Float32Array([300]);
    const a = softmax.native.forward(x, [1, 16, 16, 1], t);
    const b = linear.native.forward(x, [1, 16, 16, 1], t);
    let diff = 0;
    for (let i = 0; i < a.length; i++)
      diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    expect(diff).toBeGreaterThan(1e-3);
    // The engine's and the control plane's counts agree: no N x N term for linear attention.
    const cost = linear.cost();
    expect(unetCost(linear.config.unet).activationBytesPerImage).toBe(cost.activationBytesPerImage);
    expect(cost.activationBytesPerImage).toBeLessThan(softmax.cost().activationBytesPerImage);
    expect(cost.forwardFlopsPerImage).toBeLessThan(softmax.cost().forwardFlopsPerImage);
    const dir = mkdtempSync(join(tmpdir(), 'anneal-linear-'));
    linear.save(dir);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).unet.linear_attention).toBe(
      true,
    );
    const loaded = Model.load(dir);
    expect(loaded.config.unet.linear_attention).toBe(true);
    const r = await loaded.sample({ n: 2, steps: 2, sampler: 'ddim', seed: 0 });
    expect(r.images).toHaveLength(2 * 16 * 16);
    // A softmax model's config.json gains no key.
    softmax.save(dir);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).unet).not.toHaveProperty(
      'linear_attention',
    );
    for (const m of [softmax, linear, loaded]) m.dispose();
  });

  it('refuses to resume a checkpoint of the other attention kind (Trainer.resume)', async () => {
    const shards = await tinyShapesShards();
    const unet = presetUNet('tiny', { resolution: 8, channels: 3 });
    const trainer = (linear: boolean) =>
      Trainer.create({
        model: Model.create(
          { unet: { ...unet, linear_attention: linear }, parameterization: 'eps' },
          1,
        ),
        shards,
        numClasses: 0,
        batch: 4,
        totalSteps: 2,
      });
    const dir = mkdtempSync(join(tmpdir(), 'anneal-linear-resume-'));
    const linear = trainer(true);
    for await (const _ of linear.run(1));
    linear.saveCheckpoint(dir, linear.model.config);
    // The same kind resumes; the other is refused, naming both, before any state is loaded.
    const same = trainer(true);
    same.resume(dir);
    expect(same.step).toBe(1);
    const softmax = trainer(false);
    let err: unknown;
    try {
      softmax.resume(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('BAD_REQUEST');
    expect((err as Error).message).toBe(
      `cannot resume from ${dir}: it was trained with linear attention, this model has softmax ` +
        'attention (a different model with the same weight names)',
    );
    expect(softmax.step).toBe(0);
    for (const t of [linear, same, softmax]) t.model.dispose();
  });
});
