import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { decodeSafetensors, type Tensor } from '@anneal/datasets/shards';
import { Model } from '@anneal/engine';
import { importDiffusersUNet } from '@anneal/engine/interop';
import { referenceDir, runJsonChild, venvPython } from './env.ts';

/**
 * Interop (issue 4, Benchmarks 2): a randomly initialised diffusers UNet2DModel, saved with
 * save_pretrained, goes through `anneal import diffusers` (the TypeScript converter) and the
 * ENGINE (Model.load + native forward) must reproduce diffusers' outputs to 1e-4.
 */
export const INTEROP_TOLERANCE = 1e-4;

/** Class-conditional, attention at two levels, non-default knobs: what a converter can get wrong. */
export const INTEROP_CASES: Array<{ name: string; unet: Record<string, unknown>; batch: number }> =
  [
    {
      name: 'attn-class-3lvl-32',
      batch: 3,
      unet: {
        sample_size: 32,
        in_channels: 1,
        out_channels: 1,
        block_out_channels: [32, 64, 64],
        layers_per_block: 2,
        down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D'],
        up_block_types: ['AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
        attention_head_dim: 16,
        norm_num_groups: 8,
        num_class_embeds: 10,
      },
    },
    {
      name: 'knobs-2lvl-16',
      batch: 2,
      unet: {
        sample_size: 16,
        in_channels: 3,
        out_channels: 3,
        block_out_channels: [32, 64],
        layers_per_block: 1,
        down_block_types: ['AttnDownBlock2D', 'AttnDownBlock2D'],
        up_block_types: ['AttnUpBlock2D', 'AttnUpBlock2D'],
        attention_head_dim: 8,
        norm_num_groups: 8,
        flip_sin_to_cos: false,
        freq_shift: 1,
        downsample_padding: 0,
        norm_eps: 1e-6,
        center_input_sample: true,
      },
    },
  ];

export interface InteropResult {
  name: string;
  params_diffusers: number;
  params_engine: number;
  max_abs_error: number;
  max_abs_output: number;
  tolerance: number;
  ok: boolean;
  import_ms: number;
}

function f32(t: Tensor | undefined, name: string): Float32Array {
  if (t?.dtype !== 'F32')
    throw new AppError('INTERNAL', `io.safetensors: ${name} missing or not F32`);
  // A copy: decoded tensors are views into the file's Buffer, whose .buffer is shared.
  return new Float32Array(new Uint8Array(t.data).buffer);
}

export async function benchInterop(cases = INTEROP_CASES): Promise<InteropResult[]> {
  const results: InteropResult[] = [];
  for (const c of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-interop-'));
    try {
      const made = await runJsonChild('make_diffusers_unet.py', venvPython, [
        join(referenceDir, 'make_diffusers_unet.py'),
        dir,
        JSON.stringify({ unet: c.unet, batch: c.batch, seed: 0 }),
      ]);
      const started = performance.now();
      importDiffusersUNet(join(dir, 'unet'), join(dir, 'anneal'));
      const importMs = performance.now() - started;
      const io = decodeSafetensors(readFileSync(join(dir, 'io.safetensors'))).tensors;
      const x = f32(io.get('x'), 'x');
      const y = f32(io.get('y'), 'y');
      const t = f32(io.get('t'), 't');
      const shape = io.get('x')?.shape as [number, number, number, number];
      const labelsT = io.get('labels');
      const labels = labelsT ? new Int32Array(new Uint8Array(labelsT.data).buffer) : undefined;
      const model = Model.load(join(dir, 'anneal'));
      try {
        const ours = model.native.forward(x, shape, t, labels);
        let err = 0;
        for (let i = 0; i < y.length; i++)
          err = Math.max(err, Math.abs((ours[i] ?? Number.NaN) - (y[i] ?? 0)));
        if (ours.length !== y.length) err = Number.POSITIVE_INFINITY;
        results.push({
          name: c.name,
          params_diffusers: made.line.params as number,
          params_engine: model.parameterCount(),
          max_abs_error: err,
          max_abs_output: made.line.max_abs_output as number,
          tolerance: INTEROP_TOLERANCE,
          ok: err <= INTEROP_TOLERANCE && made.line.params === model.parameterCount(),
          import_ms: importMs,
        });
      } finally {
        model.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}
