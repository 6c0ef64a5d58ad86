import { AppError } from '@anneal/core/errors';
import { describe, expect, it } from 'vitest';
import {
  applyMemoryLimits,
  attentionBytes,
  chooseAttention,
  Model,
  memoryStats,
  presetUNet,
  runAttention,
} from './index.ts';
import { loadNative } from './native.ts';

// float32 unit roundoff.
const U = 2 ** -24;

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a).toHaveLength(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('sliced attention', () => {
  // Each output row of the sliced op is the fused op on fewer queries (the softmax runs over
  // all keys either way), so outputs differ only by how the GEMMs block their sums. dK and dV
  // sum over the N query rows, which slicing splits into partial sums added in another order:
  // reassociating a sum of N terms moves it by at most about N u times the terms' magnitude,
  // bounded here by the largest entry of the fused result. 4 N u max|fused| is that bound with
  // room for the two GEMMs (scores, then probabilities) that each output passes through. A
  // softmax taken over the slice's keys only, or a slice lost or repeated, is off by O(1).
  // Compiled: the gradients come from mx::compile(value_and_grad), as the trainer's step takes
  // them, and are compared directly (a gradient wrong by any factor is off by O(1) here,
  // where through AdamW's first step, sign(g), it would not show).
  for (const compile of [false, true]) {
    for (const slice of [7, 16, 63]) {
      const name =
        'matches fused outputs and input gradients ' +
        `(float32, slice ${slice} of 64 queries${compile ? ', compiled' : ''})`;
      it(name, async () => {
        const shape = { batch: 2, heads: 2, tokens: 64, headDim: 8, seed: 11 };
        const opts = { ...shape, backward: true, keepValues: true, iterations: 0, compile };
        const fused = await runAttention({ ...opts, kind: 'fused' });
        const sliced = await runAttention({ ...opts, kind: 'sliced', slice });
        for (const key of ['output', 'dq', 'dk', 'dv'] as const) {
          const f = fused[key] as Float32Array;
          const s = sliced[key] as Float32Array;
          expect(maxAbs(f)).toBeGreaterThan(0.1);
          expect(maxDiff(f, s), key).toBeLessThanOrEqual(4 * shape.tokens * U * maxAbs(f));
        }
      });
    }
  }

  // bfloat16 (the default dtype on M2 and later). Both runs are compared with float32 fused on
  // the same bf16-rounded inputs. Each of the S slices' partial dK and dV (sums over its rows)
  // is rounded once to bf16 (relative 2^-9) and the partials are summed in float32, so the
  // total moves by about sqrt(S) 2^-9 |partial| ~ 2^-9 |dK|: about one more rounding of the
  // kind fused's own result gets, so sliced stays within fused's own error plus 2^-8 of the
  // largest entry. Summed in bf16 instead, every one of the S additions rounds the running
  // sum (measured at slice 1: dV 5.9% of its largest entry off against fused's 1.3%).
  for (const slice of [1, 8]) {
    const name = `keeps bf16 gradients within fused's own bf16 error (slice ${slice} of 1024)`;
    it(name, async () => {
      const shape = { batch: 1, heads: 2, tokens: 1024, headDim: 8, seed: 5 };
      const opts = { ...shape, backward: true, keepValues: true, iterations: 0 } as const;
      const exact = await runAttention({
        ...opts,
        kind: 'fused',
        dtype: 'float32',
        inputDtype: 'bfloat16',
      });
      const fused = await runAttention({ ...opts, kind: 'fused', dtype: 'bfloat16' });
      const sliced = await runAttention({ ...opts, kind: 'sliced', slice, dtype: 'bfloat16' });
      for (const key of ['q', 'k', 'v'] as const)
        expect(maxDiff(exact[key] as Float32Array, sliced[key] as Float32Array)).toBe(0);
      for (const key of ['output', 'dq', 'dk', 'dv'] as const) {
        const ref = exact[key] as Float32Array;
        const own = maxDiff(ref, fused[key] as Float32Array);
        const off = maxDiff(ref, sliced[key] as Float32Array);
        expect(own, key).toBeGreaterThan(0);
        expect(off, key).toBeLessThanOrEqual(own + 2 ** -8 * maxAbs(ref));
      }
    });
  }

  it('cuts the peak of forward + backward only with checkpointing (MLX peak, 1024 tokens)', async () => {
    const shape = { batch: 1, heads: 8, tokens: 1024, headDim: 8, seed: 3, backward: true };
    const block = shape.batch * shape.heads * shape.tokens ** 2 * 4;
    const fused = await runAttention({ ...shape, kind: 'fused' });
    const kept = await runAttention({ ...shape, kind: 'sliced', slice: 64, checkpoint: false });
    const checkpointed = await runAttention({ ...shape, kind: 'sliced', slice: 64 });
    // Without checkpointing autodiff keeps every slice's probabilities: an N x N block per
    // head, all of them alive when backward starts. With it one slice is alive at a time,
    // plus the slices MLX's scheduler runs ahead of the computation (on the CPU about ten of
    // the 16 here), and fused holds three N x N blocks.
    expect(kept.workingBytes).toBeGreaterThan(block);
    expect(checkpointed.workingBytes).toBeLessThan(kept.workingBytes / 2);
    expect(checkpointed.workingBytes).toBeLessThan(fused.workingBytes / 3);
    // Under MLX's memory limit, which a job sets to its budget, MLX waits for work in flight
    // instead of running ahead, on any backend: a quarter of a block above the inputs holds
    // the checkpointed slices (four 2 MiB slice blocks need 8 MiB), give or take the one
    // operation MLX allocates before it checks.
    const limit = memoryStats().limitBytes;
    const inputs = 4 * shape.batch * shape.heads * shape.tokens * shape.headDim * 4;
    try {
      applyMemoryLimits({
        bytes: memoryStats().activeBytes + inputs + block / 4,
        source: 'test',
      });
      const limited = await runAttention({ ...shape, kind: 'sliced', slice: 64 });
      expect(limited.workingBytes).toBeLessThan(block / 2);
    } finally {
      applyMemoryLimits({ bytes: limit, source: 'MLX default' });
    }
  });

  it("counts fused attention's bytes as MLX's measured peak (1024 tokens, 8 heads)", async () => {
    const shape = { batch: 1, heads: 8, tokens: 1024, headDim: 8 };
    // Besides the [B, heads, N, N] blocks the model counts, the measured peak holds the
    // output and, with backward, three gradients: [B, heads, N, d] each, ~1% of it here.
    const small = shape.batch * shape.heads * shape.tokens * shape.headDim * 4;
    for (const training of [false, true]) {
      const measured = await runAttention({ ...shape, kind: 'fused', backward: training, seed: 1 });
      const model = loadNative().attention.bytes({ ...shape, kind: 'fused', training });
      const own = measured.workingBytes - (training ? 4 : 1) * small;
      // Allocator rounding and MLX's small temporaries: a few percent.
      expect(own / model.total, `training ${training}`).toBeGreaterThan(0.95);
      expect(own / model.total, `training ${training}`).toBeLessThan(1.05);
    }
  });
});

describe('attention in the U-Net', () => {
  const unet = presetUNet('tiny', { resolution: 16, channels: 1 });

  it('gives the same forward with sliced attention as with fused', () => {
    const m = Model.create({ unet, parameterization: 'eps' }, 4);
    const x = Float32Array.from({ length: 2 * 16 * 16 }, (_, i) => Math.sin(i * 0.37));
    const t = new Float32Array([10, 700]);
    const fused = m.native.forward(x, [2, 16, 16, 1], t);
    const sliced = m.native.forward(x, [2, 16, 16, 1], t, undefined, {
      attention: { kind: 'sliced', slice: 16 },
    });
    // The attention layers (8x8 = 64 tokens) differ by rounding as above; the layers after
    // them carry that on without amplifying it beyond a few times.
    expect(maxDiff(fused, sliced)).toBeLessThanOrEqual(64 * 64 * U * maxAbs(fused));
    expect(() =>
      m.native.forward(x, [2, 16, 16, 1], t, undefined, {
        attention: { kind: 'chunked' } as never,
      }),
    ).toThrow(/options\.attention\.kind: attention kind must be "fused" or "sliced"/);
    m.dispose();
  });

  it('chooses fused when it fits, else the largest slice that fits', () => {
    const fused = attentionBytes(unet, { batch: 8, training: true });
    // tiny at 16 px: attention at 8x8 in down, mid and up blocks, 64 channels, 8 heads.
    const block = 8 * 8 * 64 * 64 * 4;
    expect(fused.kept).toBe(4 * block);
    expect(fused.transient).toBe(2 * block);
    expect(
      chooseAttention(unet, { batch: 8, training: true, availableBytes: fused.total }).exec,
    ).toEqual({
      kind: 'fused',
    });
    const tight = chooseAttention(unet, {
      batch: 8,
      training: true,
      availableBytes: fused.total - 1,
    });
    expect(tight.exec).toEqual({ kind: 'sliced', slice: 32 });
    expect(tight.bytes.total).toBeLessThanOrEqual(fused.total - 1);
    expect(tight.summary).toMatch(/^sliced, 32 queries per slice/);
    // A slice of 32 needs 4 blocks of 32 rows; just below that, 16.
    const smaller = chooseAttention(unet, {
      batch: 8,
      training: true,
      availableBytes: tight.bytes.total - 1,
    });
    expect(smaller.exec).toEqual({ kind: 'sliced', slice: 16 });
    // A slice of 1 is chosen while its bytes fit; below them the job is refused, naming the
    // numbers, instead of running 64 sequential calls per layer past its budget.
    const one = attentionBytes(unet, {
      batch: 8,
      training: true,
      exec: { kind: 'sliced', slice: 1 },
    }).total;
    expect(one).toBe(4 * 8 * 8 * 64 * 4);
    expect(chooseAttention(unet, { batch: 8, training: true, availableBytes: one }).exec).toEqual({
      kind: 'sliced',
      slice: 1,
    });
    for (const availableBytes of [one - 1, 0, -5]) {
      let err: unknown;
      try {
        chooseAttention(unet, { batch: 8, training: true, availableBytes });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('RESOURCE_EXHAUSTED');
      expect((err as Error).message).toBe(
        'attention does not fit the memory budget: 8 image(s) at 16x16 (training) leave ' +
          `${availableBytes > 0 ? '64.0 KiB' : '0 B'} for attention; fused needs 6.0 MiB and ` +
          'even sliced attention with 1 query per slice needs 64.0 KiB; lower the batch or ' +
          'the resolution, or raise the memory budget',
      );
    }
    // Inference keeps nothing for backward.
    expect(attentionBytes(unet, { batch: 8 }).kept).toBe(0);
  });

  it('counts a bucket of other sides: tokens scale with its area, sides must divide', () => {
    const square = attentionBytes(unet, { batch: 2, training: true });
    // 16x32: twice the tokens at every level, so four times the N x N blocks.
    const wide = attentionBytes(unet, { batch: 2, training: true, height: 16, width: 32 });
    expect(wide.kept).toBe(4 * square.kept);
    expect(wide.transient).toBe(4 * square.transient);
    expect(attentionBytes(unet, { batch: 2, height: 16, width: 16 })).toEqual(
      attentionBytes(unet, { batch: 2 }),
    );
    const choice = chooseAttention(unet, {
      batch: 2,
      height: 32,
      width: 16,
      training: true,
      availableBytes: wide.total - 1,
    });
    expect(choice.exec.kind).toBe('sliced');
    expect(choice.fusedBytes).toEqual(wide);
    expect(() => attentionBytes(unet, { batch: 2, height: 16, width: 17 })).toThrow(
      /16x17 images; both sides must be multiples of 2\^\(levels-1\) = 2/,
    );
  });
});

describe('the attention operation', () => {
  it('measures the time and peak of one run, MLX peak above its inputs', async () => {
    const r = await runAttention({
      batch: 1,
      heads: 2,
      tokens: 128,
      headDim: 8,
      kind: 'sliced',
      slice: 32,
    });
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.workingBytes).toBeGreaterThan(0);
    expect(r.baselineBytes).toBeGreaterThanOrEqual(4 * 2 * 128 * 8 * 4);
    expect(r.output).toBeUndefined();
    expect(() =>
      runAttention({ batch: 1, heads: 2, tokens: 128, headDim: 8, kind: 'sliced' }),
    ).toThrow(/options\.slice is required/);
  });
});
