// The engine's side of the training-throughput benchmark, run as its own process (like the
// Python contenders) so all three start cold with the same thread environment:
//   node --import tsx engine-step.ts '<json: {unet, dataset, batch, warmup, steps, seed, lr}>'
// Trains through the TS Trainer on real shards of a built-in dataset and prints one JSON line
// with the keys of bench/reference/train_common.report.

import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { Model, memoryStats, probeHardware, Trainer } from '@anneal/engine';
import { z } from 'zod';
import { loadAverage } from './env.ts';
import { median } from './stats.ts';

const specSchema = z.object({
  unet: z.record(z.string(), z.unknown()),
  dataset: z.enum(['shapes', 'mnist']),
  batch: z.number().int().positive(),
  warmup: z.number().int().min(1),
  steps: z.number().int().positive(),
  seed: z.number().int().default(0),
  lr: z.number().positive().default(1e-4),
  home: z.string().optional(),
});

async function main(): Promise<void> {
  const spec = specSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
  const resolution = spec.unet.sample_size as number;
  const data = await materialize(
    { kind: 'builtin', name: spec.dataset },
    { resolution, home: spec.home },
  );
  const shards = data.manifest.splits.train.shards.map((s) => join(data.dir, s.file));
  const model = Model.create({ unet: spec.unet as never }, spec.seed);
  const numClasses = data.manifest.classes.length;
  const total = spec.warmup + spec.steps;
  const trainer = Trainer.create({
    model,
    shards,
    numClasses,
    batch: spec.batch,
    totalSteps: total,
    lr: spec.lr,
    warmup: 0,
    seed: spec.seed,
  });
  const seconds: number[] = [];
  let loss = Number.NaN;
  let peak = 0;
  for await (const r of trainer.run(total)) {
    seconds.push(r.seconds);
    loss = r.loss;
    peak = Math.max(peak, r.peakBytes);
  }
  const steps = seconds.slice(spec.warmup);
  const hw = probeHardware();
  const med = median(steps);
  const thread_env: Record<string, string> = {};
  for (const k of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) {
    const v = process.env[k];
    if (v !== undefined) thread_env[k] = v;
  }
  console.log(
    JSON.stringify({
      impl: 'anneal-engine',
      params: model.parameterCount(),
      images_per_s: spec.batch / med,
      step_ms_median: med * 1000,
      peak_memory_bytes: Math.max(peak, memoryStats().peakBytes),
      peak_memory_source: 'MLX allocator peak (engine memory stats)',
      device: `mlx ${hw.backend}: ${hw.chip.name}`,
      versions: { mlx: hw.mlxVersion, node: process.versions.node },
      blas: [hw.blas],
      thread_env,
      load_avg_1m: loadAverage()[0],
      step_ms: steps.map((s) => Math.round(s * 1e6) / 1e3),
      warmup_ms: seconds.slice(0, spec.warmup).map((s) => Math.round(s * 1e6) / 1e3),
      batch: spec.batch,
      resolution,
      warmup: spec.warmup,
      steps: spec.steps,
      final_loss: loss,
      dataset: `${spec.dataset} (${data.manifest.hash.slice(0, 12)}, ${numClasses} classes)`,
    }),
  );
}

main().catch((err) => {
  console.error((err as Error)?.stack ?? String(err));
  process.exit(1);
});
