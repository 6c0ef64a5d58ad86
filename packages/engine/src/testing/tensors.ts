// Helpers for tests that hand tensors to a reference implementation (MLX Python, diffusers).
import type { Tensor } from '@anneal/datasets/shards';

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
