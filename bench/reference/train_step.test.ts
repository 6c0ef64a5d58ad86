import { describe, expect, it } from 'vitest';
import { hasVenv, missingVenvMessage, runReference, venvRequired } from './venv.ts';

// A smoke run of both reference training-step benchmarks at a micro configuration, so the
// harness cannot rot. Timings are reported, never asserted.
const micro = {
  unet: {
    block_out_channels: [8, 16],
    layers_per_block: 1,
    down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
    up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
    norm_num_groups: 4,
    attention_head_dim: 8,
    num_class_embeds: 3,
    dropout: 0.1,
  },
  batch: 2,
  resolution: 8,
  warmup: 1,
  steps: 2,
  seed: 0,
};

function lastJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '');
}

describe('reference training-step benchmarks', () => {
  it.runIf(!hasVenv && venvRequired)('has the reference venv when CI promises one', () => {
    expect.fail(missingVenvMessage);
  });

  it.runIf(hasVenv)('MLX Python and diffusers/torch report one JSON line each', () => {
    const results = ['train_step_mlx.py', 'train_step_torch.py'].map((script) => {
      const run = runReference(script, [JSON.stringify(micro)]);
      expect(run.status, `${script}\n${run.stdout}\n${run.stderr}`).toBe(0);
      return lastJsonLine(run.stdout);
    });
    const [mlx, torch] = results;
    expect(mlx?.impl).toBe('mlx-python');
    expect(torch?.impl).toBe('diffusers-torch');
    for (const r of results) {
      for (const key of ['images_per_s', 'step_ms_median', 'peak_memory_bytes', 'final_loss']) {
        expect(Number.isFinite(r[key]), `${r.impl}.${key} = ${r[key]}`).toBe(true);
        expect(r[key] as number).toBeGreaterThan(0);
      }
      expect(r.device).toEqual(expect.any(String));
      expect(r.versions).toEqual(expect.any(Object));
      expect(r.step_ms).toHaveLength(micro.steps);
    }
    // The same architecture on both sides: the comparison is only fair if this holds.
    expect(mlx?.params).toBe(torch?.params);
  });

  it.runIf(hasVenv)('the compiled MLX step reproduces the uncompiled one', () => {
    const run = runReference('train_step_mlx.py', ['--check-compile', JSON.stringify(micro)]);
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const check = lastJsonLine(run.stdout);
    expect(check.max_abs_param_diff).toBeLessThanOrEqual(1e-6);
    // Both must have trained: AdamW moves each weight by about lr per step.
    expect(check.max_abs_param_update).toBeGreaterThan(1e-5);
  });

  it.runIf(hasVenv)('refuses a config with an unknown block type, naming the key', () => {
    const bad = { ...micro, unet: { ...micro.unet, down_block_types: ['DownBlock2D', 'Nope'] } };
    const run = runReference('train_step_mlx.py', [JSON.stringify(bad)]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('down_block_types[1]');
  });
});
