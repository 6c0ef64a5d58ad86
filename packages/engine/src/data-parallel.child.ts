// Child process of data-parallel.test.ts: one rank (MLX_RANK set) of a data-parallel group, or
// the single-process reference (MLX_RANK unset). Trains the test's tiny model for `steps` at
// `batch` and prints one JSON line per step ({loss, gradNorm}); rank 0 (or the reference)
// then saves its raw weights to `out`/model.safetensors.
import { join } from 'node:path';
import { presetUNet } from './config/presets.ts';
import { joinGroup } from './distributed.ts';
import { Model } from './model.ts';
import { Trainer } from './trainer.ts';

const [shardList, stepsArg, batchArg, out, kArg] = process.argv.slice(2);
if (!shardList || !stepsArg || !batchArg || !out)
  throw new Error('usage: data-parallel.child.ts SHARD[,SHARD] STEPS BATCH OUT [K]');
const group = process.env.MLX_RANK === undefined ? null : joinGroup('ring');
const model = Model.create(
  {
    unet: {
      ...presetUNet('tiny', { resolution: 8, channels: 3, numClasses: 5 }),
      block_out_channels: [16, 32],
    },
    parameterization: 'v',
  },
  7,
);
const trainer = Trainer.create({
  model,
  shards: shardList.split(','),
  numClasses: 5,
  batch: Number(batchArg),
  accumulationSteps: Number(kArg ?? 1),
  dataParallel: group !== null,
  totalSteps: 20,
  lr: 1e-3,
  warmup: 0,
  seed: 3,
});
for await (const r of trainer.run(Number(stepsArg)))
  process.stdout.write(
    `${JSON.stringify({ loss: r.loss, gradNorm: r.gradNorm, batch: r.batch })}\n`,
  );
if (!group || group.rank === 0) {
  const raw = trainer.raw();
  raw.native.save(join(out, 'model.safetensors'));
  raw.dispose();
}
process.stdout.write(
  `${JSON.stringify({ done: true, rank: group?.rank ?? null, size: group?.size ?? 1 })}\n`,
);
