import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '@anneal/datasets/shards';
import { describe, expect, it } from 'vitest';
import { Model, type ModelConfigInput, presetUNet } from './index.ts';
import { f32, perturbCheckpoint, uniformValues as random } from './testing/tensors.ts';

// The engine's U-Net against the one MLX Python implementation in bench/reference (also used
// by the benchmarks and checked against diffusers there). It runs on the project-local MLX
// SDK's Python frontend, so it needs no venv. Skips without Python/MLX, except when CI=true.
const sdk = join(repoRoot, 'native', 'mlx-sdk');
const reference = join(repoRoot, 'bench', 'reference');
const env = { ...process.env, PYTHONPATH: [sdk, reference].join(':') };
const probe = spawnSync('python3', ['-c', 'import mlx.core'], { env, encoding: 'utf8' });
const available = probe.status === 0;
const required = process.env.CI === 'true';

const cases: Array<{ name: string; config: ModelConfigInput; batch: number }> = [
  {
    name: 'tiny, class-conditional, attention at 8x8, 16x16 RGB',
    config: { unet: presetUNet('tiny', { resolution: 16, channels: 3, numClasses: 4 }) },
    batch: 2,
  },
  {
    name: 'small, 3 levels, 32x32 grey',
    config: { unet: presetUNet('small', { resolution: 32, channels: 1 }) },
    batch: 2,
  },
];

/**
 * How far two correct float32 forward passes may drift apart: both sides sum the same products
 * in different orders (OpenBLAS here, MLX's own kernels in Python; blocking differs by CPU).
 * A length-K dot product carries a rounding error of about sqrt(K) u of its magnitude when the
 * errors are independent (u = 2^-24), and layers add their errors, normalization keeping the
 * scale near 1; so the bound is (number of weight layers) * sqrt(largest K) * u, relative to
 * the output's magnitude. Measured here: 1.9e-6 and 2.3e-6 relative for the two cases, against
 * bounds of 1.1e-4 and 1.3e-4; a transposed kernel or a dropped bias moves outputs by ~1e-1.
 */
function roundoffBound(weights: ReadonlyArray<readonly [string, Tensor]>): number {
  let layers = 0;
  let longest = 1;
  for (const [, t] of weights) {
    // Conv kernels are OHWI, linear weights [out, in]: K is everything after the first axis.
    if (t.shape.length !== 4 && t.shape.length !== 2) continue;
    layers++;
    longest = Math.max(
      longest,
      t.shape.slice(1).reduce((a, b) => a * b, 1),
    );
  }
  return layers * Math.sqrt(longest) * 2 ** -24;
}

describe.skipIf(!available && !required)('parity with the MLX Python reference U-Net', () => {
  it('the MLX Python frontend is importable', () => {
    expect(probe.status, `python3 cannot import mlx from ${sdk}: ${probe.stderr}`).toBe(0);
  });

  for (const c of cases) {
    it(`${c.name}: one forward pass matches to float32 round-off`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'anneal-parity-'));
      const model = Model.create(c.config, 11);
      model.save(dir);
      // Move every weight off its initial value (norm affines start at exactly 1 and 0), so the
      // comparison exercises each parameter, then reload it through the checkpoint path.
      const perturbed = perturbCheckpoint(dir, 1);
      model.dispose();
      const loaded = Model.load(dir);
      const u = loaded.config.unet;
      const shape: [number, number, number, number] = [
        c.batch,
        u.sample_size,
        u.sample_size,
        u.in_channels,
      ];
      const x = random(
        shape.reduce((a, b) => a * b, 1),
        99,
      );
      const t = new Float32Array([3.5, 999].slice(0, c.batch));
      const labels = u.num_class_embeds
        ? new Int32Array([0, u.num_class_embeds - 1].slice(0, c.batch))
        : undefined;
      const ours = loaded.native.forward(x, shape, t, labels);
      loaded.dispose();

      const inputs: Array<readonly [string, Tensor]> = [
        ['x', f32(x, shape)],
        ['t', f32(t, [c.batch])],
      ];
      if (labels)
        inputs.push([
          'labels',
          { dtype: 'I32', shape: [c.batch], data: new Uint8Array(labels.buffer) },
        ]);
      writeFileSync(join(dir, 'inputs.safetensors'), encodeSafetensors(inputs));
      const out = join(dir, 'out.safetensors');
      const r = spawnSync(
        'python3',
        [join(reference, 'forward_checkpoint.py'), dir, join(dir, 'inputs.safetensors'), out],
        {
          env,
          encoding: 'utf8',
        },
      );
      expect(r.status, r.stderr).toBe(0);
      const y = decodeSafetensors(readFileSync(out)).tensors.get('y');
      expect(y?.shape).toEqual(shape.slice(0, 3).concat([u.out_channels]));
      const theirs = new Float32Array(new Uint8Array(y?.data ?? new Uint8Array()).buffer);
      let maxErr = 0;
      let maxAbs = 0;
      ours.forEach((v, i) => {
        maxErr = Math.max(maxErr, Math.abs(v - (theirs[i] ?? Number.NaN)));
        maxAbs = Math.max(maxAbs, Math.abs(v));
      });
      expect(maxAbs).toBeGreaterThan(0.1);
      expect(maxErr).toBeLessThanOrEqual(roundoffBound(perturbed) * maxAbs);
    });
  }
});
