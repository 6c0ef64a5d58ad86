// Helpers for tests that hand tensors to a reference implementation (MLX Python, diffusers).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '@anneal/datasets/shards';
import { MODEL_FILE } from '../model.ts';

/** A float32 safetensors tensor over a copy of `data`'s bytes. */
export function f32(data: Float32Array, shape: number[]): Tensor {
  return {
    dtype: 'F32',
    shape,
    data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  };
}

/** `n` reproducible values uniform in [-1, 1) from a 32-bit LCG (Numerical Recipes' constants). */
export function uniformValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/**
 * Moves every weight of the checkpoint at `dir` off its initial value (norm affines start at
 * exactly 1 and 0, so a lost scale could hide there) by 0.1 x uniform noise, one seed per
 * tensor from `seed` on, and rewrites it; returns the perturbed tensors.
 */
export function perturbCheckpoint(dir: string, seed: number): Array<readonly [string, Tensor]> {
  const file = join(dir, MODEL_FILE);
  let s = seed;
  const perturbed = [...decodeSafetensors(readFileSync(file)).tensors].map(([name, t]) => {
    const values = new Float32Array(new Uint8Array(t.data).buffer);
    const noise = uniformValues(values.length, s++);
    return [
      name,
      f32(
        values.map((v, i) => v + 0.1 * (noise[i] ?? 0)),
        t.shape,
      ),
    ] as const;
  });
  writeFileSync(file, encodeSafetensors(perturbed));
  return perturbed;
}
