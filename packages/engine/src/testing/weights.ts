// Comparing trained weights in tests: the float32 tensors of a checkpoint, and how far two
// sets of them are apart (the largest difference, and the share above a threshold).
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors } from '@anneal/datasets/shards';
import type { Trainer } from '../trainer.ts';

/** Every tensor of a float32 safetensors file, by name. */
export function readWeights(file: string): Map<string, Float32Array> {
  const { tensors } = decodeSafetensors(readFileSync(file));
  const out = new Map<string, Float32Array>();
  for (const [name, t] of tensors)
    out.set(
      name,
      new Float32Array(
        t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength),
      ),
    );
  return out;
}

/** A trainer's raw (not EMA) weights, saved under `dir` and read back. */
export function trainerWeights(t: Trainer, dir: string): Map<string, Float32Array> {
  const at = mkdtempSync(join(dir, 'raw-'));
  const m = t.raw();
  m.native.save(join(at, 'model.safetensors'));
  m.dispose();
  return readWeights(join(at, 'model.safetensors'));
}

/**
 * The largest absolute difference between two sets of the same weights, and the share of
 * weights that differ by more than `threshold`. Throws unless both have the same names.
 */
export function weightDiff(
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
  threshold: number,
): { max: number; share: number } {
  const names = (m: Map<string, Float32Array>) => [...m.keys()].sort().join(',');
  if (names(a) !== names(b)) throw new Error('the two sets of weights have different names');
  let max = 0;
  let over = 0;
  let total = 0;
  for (const [name, x] of a) {
    const y = b.get(name) as Float32Array;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs((x[i] ?? 0) - (y[i] ?? 0));
      max = Math.max(max, d);
      if (d > threshold) over++;
      total++;
    }
  }
  return { max, share: over / total };
}
