import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '@anneal/datasets/shards';
import { afterAll, describe, expect, it } from 'vitest';
import { Model, presetUNet } from '../../packages/engine/src/index.ts';
import {
  f32,
  perturbCheckpoint,
  uniformValues as random,
} from '../../packages/engine/src/testing/tensors.ts';
import { hasVenv, missingVenvMessage, runReference, venvRequired } from './venv.ts';

// An engine checkpoint loaded into diffusers' UNet2DModel (convert_to_diffusers.py) computes
// what the engine computes, and diffusers' schedulers on it, given the engine's noise and
// sigmas, land where the engine's samplers land (diffusers_agreement.py). Tiny random models,
// 3 steps: the full comparison on trained models is in bench/RESULTS.md.

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A tiny class-conditional checkpoint with every weight moved off its init (norm affines start
 * at exactly 1 and 0, so a lost scale could hide there). */
function tinyCheckpoint(parameterization: 'eps' | 'v', seed: number): string {
  const dir = mkdtempSync(join(tmpdir(), `anneal-to-diffusers-${parameterization}-`));
  dirs.push(dir);
  const model = Model.create(
    {
      unet: {
        ...presetUNet('tiny', { resolution: 8, channels: 1, numClasses: 3 }),
        block_out_channels: [16, 32],
      },
      parameterization,
    },
    seed,
  );
  model.save(dir);
  model.dispose();
  perturbCheckpoint(dir, seed * 100);
  return dir;
}

describe('engine checkpoints in diffusers', () => {
  it.runIf(!hasVenv && venvRequired)('has the reference venv when CI promises one', () => {
    expect.fail(missingVenvMessage);
  });

  it.runIf(hasVenv)('a converted checkpoint gives the engine forward pass', () => {
    const dir = tinyCheckpoint('eps', 3);
    const model = Model.load(dir);
    const shape: [number, number, number, number] = [3, 8, 8, 1];
    const x = random(3 * 64, 17);
    const t = new Float32Array([0, 311.5, 999]);
    const labels = new Int32Array([0, 2, 3]); // 3: the null class
    const ours = model.native.forward(x, shape, t, labels);
    model.dispose();
    writeFileSync(
      join(dir, 'in.safetensors'),
      encodeSafetensors([
        ['x', f32(x, shape)],
        ['t', f32(t, [3])],
        ['labels', { dtype: 'I32', shape: [3], data: new Uint8Array(labels.buffer) }],
      ]),
    );
    const run = runReference('to_diffusers_forward.py', [
      dir,
      join(dir, 'in.safetensors'),
      join(dir, 'out.safetensors'),
    ]);
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const y = decodeSafetensors(readFileSync(join(dir, 'out.safetensors'))).tensors.get('y');
    expect(y?.shape).toEqual([3, 8, 8, 1]);
    const theirs = new Float32Array(new Uint8Array(y?.data ?? new Uint8Array()).buffer);
    let maxErr = 0;
    let maxAbs = 0;
    ours.forEach((v, i) => {
      maxErr = Math.max(maxErr, Math.abs(v - (theirs[i] ?? Number.NaN)));
      maxAbs = Math.max(maxAbs, Math.abs(v));
    });
    expect(maxAbs).toBeGreaterThan(0.1);
    // Float32 round-off of two summation orders, as in packages/engine/src/parity.test.ts
    // (measured there ~2e-6 relative); a transposed kernel moves outputs by ~1e-1.
    expect(maxErr).toBeLessThanOrEqual(1e-4 * maxAbs);
  });

  it.runIf(hasVenv)(
    "diffusers' schedulers reproduce the engine's samplers on the same noise (eps and v)",
    () => {
      const eps = tinyCheckpoint('eps', 5);
      const v = tinyCheckpoint('v', 6);
      const out = join(eps, 'agreement.json');
      const run = runReference('diffusers_agreement.py', [
        '--model',
        eps,
        '--model',
        v,
        '--steps',
        '3',
        '--n',
        '2',
        '--json',
        out,
        '--check',
      ]);
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      const report = JSON.parse(readFileSync(out, 'utf8')) as {
        rows: Array<{ engine: string; agree?: boolean; rms?: number }>;
      };
      const compared = report.rows.filter((r) => r.agree !== undefined);
      // 4 samplers x (trailing + engine default, less ddim's default) + ddim with clipping,
      // for each model.
      expect(compared).toHaveLength(2 * 8);
      expect(compared.every((r) => r.agree)).toBe(true);
      expect(new Set(compared.map((r) => r.engine))).toEqual(
        new Set(['ddim', 'dpmpp-2m', 'euler', 'ddpm']),
      );
    },
  );
});
