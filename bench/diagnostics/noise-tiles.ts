// Counts samples left as noise: a tile whose mean absolute difference between horizontally
// adjacent pixels exceeds `--threshold` (in [0, 2] units of the [-1, 1] range) is noise, not a
// digit (clean MNIST-like digits sit near 0.1; i.i.d. uniform noise near 0.67).
//
//   npx tsx bench/diagnostics/noise-tiles.ts --model DIR [--samplers ddpm,euler,dpmpp-2m]
//     [--steps 20] [--n 64] [--seed 0] [--threshold 0.3] [--no-clip]
import { parseArgs } from 'node:util';
import { Model } from '@anneal/engine';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    samplers: { type: 'string', default: 'ddpm,euler,dpmpp-2m' },
    steps: { type: 'string', default: '20' },
    n: { type: 'string', default: '64' },
    seed: { type: 'string', default: '0' },
    threshold: { type: 'string', default: '0.3' },
    'no-clip': { type: 'boolean', default: false },
    schedule: { type: 'string', default: 'default' },
    /** Start the ODE at this sigma instead of the table's top: Karras (rho 7) down to 0.01. */
    'sigma-max': { type: 'string' },
  },
});
if (!values.model) throw new Error('--model DIR is required');
const model = Model.load(values.model);
const u = model.config.unet;
const side = u.sample_size;
const ch = u.in_channels;
const rows = [];
const steps = Number(values.steps);
const sigmaMax = values['sigma-max'] ? Number(values['sigma-max']) : undefined;
const karras = (hi: number, lo = 0.01, rho = 7) =>
  Array.from(
    { length: steps },
    (_, i) => (hi ** (1 / rho) + (i / (steps - 1)) * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho,
  );
for (const sampler of (values.samplers ?? '').split(',')) {
  const r = await model.native.sample({
    ...(sigmaMax ? { sigmas: karras(sigmaMax) } : {}),
    sampler,
    steps: Number(values.steps),
    n: Number(values.n),
    seed: Number(values.seed),
    classLabel: -1,
    guidance: 1,
    eta: 0,
    schedule: values.schedule,
    clipDenoised: !values['no-clip'],
  });
  const img = r.images;
  const n = Number(values.n);
  let noisy = 0;
  const roughness: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    let c = 0;
    for (let y = 0; y < side; y++)
      for (let x = 1; x < side; x++)
        for (let k = 0; k < ch; k++) {
          const a = img[((i * side + y) * side + x) * ch + k] as number;
          const b = img[((i * side + y) * side + x - 1) * ch + k] as number;
          s += Math.abs(a - b) / 127.5;
          c++;
        }
    roughness.push(s / c);
    if (s / c > Number(values.threshold)) noisy++;
  }
  rows.push({
    sampler,
    sigma_max: sigmaMax ?? 'table',
    steps: Number(values.steps),
    clip: !values['no-clip'],
    noisy,
    n,
    median_roughness: roughness.sort((a, b) => a - b)[n >> 1],
  });
}
model.dispose();
console.log(
  JSON.stringify({ model: values.model, parameterization: model.config.parameterization, rows }),
);
