import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presetUNet } from './config/presets.ts';
import { Model } from './model.ts';
import { SamplingStopped, sampleResumable } from './sample-resumable.ts';

// Sampling a chunk at a time (GenerateSpec::first_chunk) draws each chunk's noise and labels
// from its index in the whole run, so a run resumed from the chunks a killed one kept gives
// the images one call gives: the same keys, labels and batch shapes, so the same arithmetic.
const root = mkdtempSync(join(tmpdir(), 'anneal-resumable-'));
const saved = join(root, 'model');
{
  const m = Model.create(
    {
      unet: {
        ...presetUNet('tiny', { resolution: 8, channels: 1, numClasses: 3 }),
        block_out_channels: [16, 32],
      },
      parameterization: 'v',
    },
    5,
  );
  m.save(saved);
  m.dispose();
}
const model = Model.load(saved);
afterAll(() => model.dispose());

// Stochastic (its per-step noise comes from the chunk's key too) and class-conditional (the
// labels cycle over the whole run): 3 chunks of 4, 4 and 2.
const spec = { sampler: 'ddpm' as const, steps: 4, n: 10, seed: 11, chunk: 4 };

describe('resumable sampling', () => {
  it('gives the images of one call, and resumes a killed run from the chunks it kept', async () => {
    const whole = await model.sample(spec);
    const cache = join(root, 'cache');
    const first = await sampleResumable(model, spec, { root: cache });
    expect(first.chunks).toEqual({ resumed: 0, sampled: 3 });
    expect(first.shape).toEqual(whole.shape);
    expect(first.nfe).toBe(whole.nfe);
    expect(Buffer.from(first.images).equals(Buffer.from(whole.images))).toBe(true);
    // Chunk 1 alone (first_chunk 1) is the run's chunk 1, not a run's chunk 0.
    const px = 8 * 8;
    const chunk1 = await model.sample({ ...spec, n: 4, firstChunk: 1 });
    expect(
      Buffer.from(chunk1.images).equals(Buffer.from(whole.images.subarray(4 * px, 8 * px))),
    ).toBe(true);
    const chunk0 = await model.sample({ ...spec, n: 4 });
    expect(Buffer.from(chunk0.images).equals(Buffer.from(chunk1.images))).toBe(false);

    // Killed after chunk 0: chunk 1's record never written, chunk 2 never begun.
    const dir = first.dir;
    rmSync(join(dir, 'chunk-000001.json'));
    rmSync(join(dir, 'chunk-000002.json'));
    rmSync(join(dir, 'chunk-000002.u8'));
    const steps: Array<[number, number]> = [];
    const resumed = await sampleResumable(model, spec, {
      root: cache,
      onChunk: (d, t) => steps.push([d, t]),
    });
    expect(resumed.chunks).toEqual({ resumed: 1, sampled: 2 });
    expect(steps).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(Buffer.from(resumed.images).equals(Buffer.from(whole.images))).toBe(true);
    expect(resumed.seconds).toBeGreaterThan(0);

    // A larger n reuses the full chunks and draws the short last one again in full.
    const more = await sampleResumable(model, { ...spec, n: 12 }, { root: cache });
    expect(more.chunks).toEqual({ resumed: 2, sampled: 1 });
    expect(more.dir).toBe(dir);
    const twelve = await model.sample({ ...spec, n: 12 });
    expect(Buffer.from(more.images).equals(Buffer.from(twelve.images))).toBe(true);
    // The same run spelled with its defaults is the same folder.
    const spelled = await sampleResumable(
      model,
      { ...spec, n: 12, schedule: 'default', guidance: 1, eta: 0, dtype: 'float32' },
      { root: cache },
    );
    expect(spelled.dir).toBe(dir);
    expect(spelled.chunks).toEqual({ resumed: 3, sampled: 0 });
    // Another seed is another run's folder.
    const seeded = await sampleResumable(model, { ...spec, seed: 12, n: 4 }, { root: cache });
    expect(seeded.dir).not.toBe(dir);
    expect(readdirSync(cache)).toHaveLength(2);

    // Asked for values, chunks kept without them are drawn again, with them.
    const withValues = await sampleResumable(model, spec, { root: cache, values: true });
    expect(withValues.chunks).toEqual({ resumed: 0, sampled: 3 });
    const exact = await model.sample({ ...spec, returnValues: true });
    expect(withValues.values).toEqual(exact.values);
    const again = await sampleResumable(model, spec, { root: cache, values: true });
    expect(again.chunks).toEqual({ resumed: 3, sampled: 0 });
    expect(again.values).toEqual(exact.values);
  });

  it("keeps each image's error to a paired reference with its chunk instead of the float values", async () => {
    const cache = join(root, 'paired');
    // The reference: many DDIM steps from the same seed (its noise), with its float values.
    const ref = await sampleResumable(
      model,
      { ...spec, sampler: 'ddim', steps: 12 },
      { root: cache, values: true },
    );
    const pairedTo = { id: 'ref-a', values: ref.values as Float32Array };
    const few = { ...spec, sampler: 'ddim' as const, steps: 2 };
    const first = await sampleResumable(model, few, { root: cache, pairedTo });
    expect(first.values).toBeUndefined();
    expect(readdirSync(first.dir).filter((f) => f.endsWith('.f32'))).toEqual([]);
    // Each image's mean squared difference, as computed from the two runs' values directly.
    const exact = await model.sample({ ...few, returnValues: true });
    const values = exact.values as Float32Array;
    const per = values.length / spec.n;
    const want = Array.from({ length: spec.n }, (_, i) => {
      let s = 0;
      for (let j = i * per; j < (i + 1) * per; j++)
        s += ((values[j] as number) - (pairedTo.values[j] as number)) ** 2;
      return s / per;
    });
    const got = Array.from(first.pairedMse ?? []);
    expect(got).toHaveLength(spec.n);
    got.forEach((e, i) => {
      expect(e).toBeGreaterThan(0);
      expect(Math.abs(e - (want[i] as number))).toBeLessThanOrEqual(1e-9 * (want[i] as number));
    });
    // Resumed from the records alone; paired with another reference, drawn again.
    const again = await sampleResumable(model, few, { root: cache, pairedTo });
    expect(again.chunks).toEqual({ resumed: 3, sampled: 0 });
    expect(Array.from(again.pairedMse ?? [])).toEqual(got);
    const other = await sampleResumable(model, few, {
      root: cache,
      pairedTo: { ...pairedTo, id: 'ref-b' },
    });
    expect(other.chunks).toEqual({ resumed: 0, sampled: 3 });
    // A reference with fewer images than the run is refused, naming both counts.
    await expect(
      sampleResumable(model, few, {
        root: cache,
        pairedTo: { id: 'short', values: pairedTo.values.subarray(0, 4 * per) },
      }),
    ).rejects.toThrow('the reference short holds 4 images, 10 are paired with it');
  });

  it("keeps the adaptive sampler's NFE per image with each chunk, and redraws a chunk kept without it", async () => {
    // Loose tolerances: an untrained model's field is rough, and only the bookkeeping is tested.
    const adaptive = {
      sampler: 'adaptive' as const,
      ...{ rtol: 0.3, atol: 0.05, n: 6, seed: 3, chunk: 2 },
    };
    const whole = await model.sample(adaptive);
    const cache = join(root, 'adaptive');
    const first = await sampleResumable(model, adaptive, { root: cache });
    expect(Buffer.from(first.images).equals(Buffer.from(whole.images))).toBe(true);
    expect(first.nfePerImage).toEqual(whole.nfePerImage);
    expect(first.calls).toBe(whole.calls);
    expect(first.rowsEvaluated).toBe(whole.rowsEvaluated);
    // A kill after chunk 0, and chunk 2 as an older sitting kept it (no per-image NFE).
    rmSync(join(first.dir, 'chunk-000001.json'));
    const old = JSON.parse(readFileSync(join(first.dir, 'chunk-000002.json'), 'utf8'));
    delete old.nfePerImage;
    writeFileSync(join(first.dir, 'chunk-000002.json'), JSON.stringify(old));
    const resumed = await sampleResumable(model, adaptive, { root: cache });
    expect(resumed.chunks).toEqual({ resumed: 1, sampled: 2 });
    expect(resumed.nfePerImage).toEqual(whole.nfePerImage);
    expect(resumed.calls).toBe(whole.calls);
    expect(Buffer.from(resumed.images).equals(Buffer.from(whole.images))).toBe(true);
    // Fixed-step runs carry none.
    expect((await sampleResumable(model, { ...spec, n: 2 }, { root: cache })).nfePerImage).toBe(
      undefined,
    );
  });

  it('stops before the next chunk when asked, keeping the chunks drawn for the resume', async () => {
    const cache = join(root, 'stopped');
    const whole = await model.sample(spec);
    let drawn = 0;
    await expect(
      sampleResumable(model, spec, {
        root: cache,
        onChunk: () => drawn++,
        stopRequested: () => drawn === 1,
      }),
    ).rejects.toEqual(new SamplingStopped(1, 3));
    const resumed = await sampleResumable(model, spec, { root: cache, stopRequested: () => false });
    expect(resumed.chunks).toEqual({ resumed: 1, sampled: 2 });
    expect(Buffer.from(resumed.images).equals(Buffer.from(whole.images))).toBe(true);
    // A run whose chunks are all kept reads them even when a stop is asked for: nothing to draw.
    const read = await sampleResumable(model, spec, { root: cache, stopRequested: () => true });
    expect(read.chunks).toEqual({ resumed: 3, sampled: 0 });
  });

  it("refuses a folder holding another run's chunks, and a model with no folder", async () => {
    const cache = join(root, 'conflict');
    const r = await sampleResumable(model, { ...spec, n: 2 }, { root: cache });
    writeFileSync(join(r.dir, 'spec.json'), '{"version":0}');
    await expect(sampleResumable(model, { ...spec, n: 2 }, { root: cache })).rejects.toThrow(
      /holds another run's chunks .*remove the folder/,
    );
    const loose = Model.create(model.config, 1);
    try {
      await expect(sampleResumable(loose, spec, { root: cache })).rejects.toThrow(
        /needs a model loaded from its folder/,
      );
    } finally {
      loose.dispose();
    }
    expect(existsSync(cache)).toBe(true);
  });
});
