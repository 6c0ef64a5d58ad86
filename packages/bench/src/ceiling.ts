import { join } from 'node:path';
import { Model, type ThroughputResult } from '@anneal/engine';
import {
  referenceDir,
  runJsonChild,
  runTsChild,
  systemOpenblas,
  threadEnv,
  venvPython,
} from './env.ts';
import type { Log } from './stats.ts';
import type { TrainingCaseResult } from './training.ts';

/**
 * The machine's ceiling (issue 4, Benchmarks 4): measured float32 GEMM GFLOP/s, and what the
 * training step achieves against it: 3 x forward FLOPs per image (forward + a backward that
 * costs about twice the forward) x images/s. Then where the step's time goes
 * (bench/reference/profile_step.py): forward / backward / optimizer, and per op family at
 * the U-Net's own shapes, in MLX (the kernels the engine runs, OpenBLAS as the engine links
 * it) and in PyTorch, so the gap between them is explained by family, with numbers.
 */

export interface CeilingResult {
  matmul: { n: number; gflops: number; seconds: number };
  training: Array<{
    case: string;
    impl: string;
    forward_gflop_per_image: number;
    images_per_s: number;
    achieved_gflops: number;
    fraction_of_matmul: number;
  }>;
}

export async function benchCeiling(
  training: TrainingCaseResult[],
  opts: { n: number; iterations: number; threads: number },
) {
  const child = await runTsChild(
    'matmul',
    'matmul-child.ts',
    [JSON.stringify({ n: opts.n, iterations: opts.iterations })],
    { env: threadEnv(opts.threads) },
  );
  const mm = child.line as unknown as ThroughputResult;
  const rows: CeilingResult['training'] = [];
  for (const t of training) {
    const model = Model.create({ unet: t.unet as never });
    const fwd = model.cost().forwardFlopsPerImage;
    model.dispose();
    for (const c of t.contenders) {
      const achieved = (3 * fwd * c.images_per_s) / 1e9;
      rows.push({
        case: t.case.name,
        impl: c.impl,
        forward_gflop_per_image: fwd / 1e9,
        images_per_s: c.images_per_s,
        achieved_gflops: achieved,
        fraction_of_matmul: achieved / mm.gflops,
      });
    }
  }
  return {
    matmul: { n: opts.n, gflops: mm.gflops, seconds: mm.seconds },
    training: rows,
  } satisfies CeilingResult;
}

export interface ProfileSide {
  framework: 'mlx' | 'torch';
  phases: Record<string, number>;
  families_ms: Record<string, number>;
  families_ops: Record<string, number>;
  families_gflop_fwd: Record<string, number>;
  matmul_1024_gflops: number;
  versions: Record<string, unknown>;
}

export interface ProfileResult {
  case: string;
  batch: number;
  resolution: number;
  repeats: number;
  mlx: ProfileSide;
  torch: ProfileSide;
}

export async function benchProfile(
  t: Pick<TrainingCaseResult, 'case' | 'unet'>,
  opts: { threads: number; batch?: number; repeats: number; log?: Log },
): Promise<ProfileResult> {
  const batch = opts.batch ?? t.case.batch;
  const config = JSON.stringify({ unet: t.unet, batch, resolution: t.case.resolution });
  const script = join(referenceDir, 'profile_step.py');
  const env = threadEnv(opts.threads);
  const blas = systemOpenblas();
  opts.log?.(`profile ${t.case.name}: mlx`);
  const mlx = await runJsonChild(
    'profile_step.py mlx',
    venvPython,
    [script, 'mlx', config, String(opts.repeats)],
    {
      env: blas ? { ...env, LD_PRELOAD: blas } : env,
    },
  );
  opts.log?.(`profile ${t.case.name}: torch`);
  const torch = await runJsonChild(
    'profile_step.py torch',
    venvPython,
    [script, 'torch', config, String(opts.repeats)],
    {
      env,
    },
  );
  return {
    case: t.case.name,
    batch,
    resolution: t.case.resolution,
    repeats: opts.repeats,
    mlx: mlx.line as unknown as ProfileSide,
    torch: torch.line as unknown as ProfileSide,
  };
}
