// Where a trained denoiser is wrong, per noise level: the error of its x0 estimate D(x; sigma)
// on held-out images, and for eps models how sigma amplifies the noise-prediction error.
//
//   npx tsx bench/diagnostics/denoiser-error.ts --model DIR [--n 256] [--seed 0] [--json]
//
// For each timestep t of the training table: x = x0 + sigma_t eps with fixed noise, the raw
// network output F at (c_in x, t), and D = c_skip x + c_out F in double precision (the engine's
// wrappers: Karras et al. 2022, Table 1). Reported: RMSE(D - x0) before and after clipping to
// [-1, 1], the share of pixels |D| > 1 (what clipping saturates), and for eps models the
// prediction's gain <eps_hat, eps> / <eps, eps> and RMSE(eps_hat - eps), which D inherits
// times sigma (157 at t = 999 on linear betas).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { materialize } from '@anneal/datasets/shards';
import { Model } from '@anneal/engine';
import { readSplit } from '../../apps/agent/src/quality/images.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    n: { type: 'string', default: '256' },
    seed: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    home: { type: 'string' },
  },
});
if (!values.model) throw new Error('--model DIR is required');
const n = Number(values.n);
const model = Model.load(values.model);
const cfg = model.config;
const u = cfg.unet;
if (!cfg.dataset?.ref) throw new Error(`${values.model}: config.json records no dataset ref`);

const { schedule } = cfg;
if (schedule.kind !== 'linear') throw new Error('only linear betas are tabulated here');
const T = schedule.timesteps;
const sigmas: number[] = [];
let alphaBar = 1;
for (let i = 0; i < T; i++) {
  const beta = schedule.beta_start + ((schedule.beta_end - schedule.beta_start) * i) / (T - 1);
  alphaBar *= 1 - beta;
  sigmas.push(Math.sqrt((1 - alphaBar) / alphaBar));
}

const home = values.home ?? mkdtempSync(join(tmpdir(), 'anneal-diag-'));
const m = await materialize(cfg.dataset.ref, { resolution: u.sample_size, home });
const held = await readSplit(m.manifest.splits.heldout.shards.map((s) => join(m.dir, s.file)));
const count = Math.min(n, held.count);
const size = u.sample_size * u.sample_size * u.in_channels;
const x0 = Float64Array.from(held.images.subarray(0, count * size), (v) => v / 127.5 - 1);
const labels = u.num_class_embeds ? held.labels.slice(0, count) : undefined;

let state = (Number(values.seed) + 1) >>> 0;
function gauss(): number {
  // Box-Muller on a xorshift32 stream: reproducible noise without the engine's RNG.
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 2 ** 32;
  };
  return Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
}
const eps = Float64Array.from({ length: x0.length }, gauss);

const rows = [];
for (const t of [999, 975, 950, 900, 800, 700, 500, 300, 200, 100, 50, 20, 5, 0]) {
  const sigma = sigmas[t] as number;
  const cIn = 1 / Math.sqrt(sigma * sigma + 1);
  let cSkip: number;
  let cOut: number;
  switch (cfg.parameterization) {
    case 'eps':
      [cSkip, cOut] = [1, -sigma];
      break;
    case 'v':
      [cSkip, cOut] = [1 / (sigma * sigma + 1), -sigma * cIn];
      break;
    case 'x0':
      [cSkip, cOut] = [0, 1];
      break;
    default:
      throw new Error(`parameterization ${cfg.parameterization} is not a VP wrapper`);
  }
  const x = x0.map((v, i) => v + sigma * (eps[i] as number));
  const f = model.native.forward(
    Float32Array.from(x, (v) => v * cIn),
    [count, u.sample_size, u.sample_size, u.in_channels],
    new Float32Array(count).fill(t),
    labels,
  );
  let se = 0;
  let seClip = 0;
  let outside = 0;
  let dot = 0;
  let norm = 0;
  let seEps = 0;
  for (let i = 0; i < x.length; i++) {
    const d = cSkip * (x[i] as number) + cOut * (f[i] as number);
    const target = x0[i] as number;
    se += (d - target) ** 2;
    seClip += (Math.min(1, Math.max(-1, d)) - target) ** 2;
    if (Math.abs(d) > 1) outside++;
    if (cfg.parameterization === 'eps') {
      const e = eps[i] as number;
      dot += (f[i] as number) * e;
      norm += e * e;
      seEps += ((f[i] as number) - e) ** 2;
    }
  }
  const len = x.length;
  rows.push({
    t,
    sigma,
    rmse_d: Math.sqrt(se / len),
    rmse_d_clipped: Math.sqrt(seClip / len),
    share_outside: outside / len,
    ...(cfg.parameterization === 'eps'
      ? { eps_gain: dot / norm, rmse_eps: Math.sqrt(seEps / len) }
      : {}),
  });
}
model.dispose();

if (values.json)
  console.log(
    JSON.stringify({ model: values.model, parameterization: cfg.parameterization, n: count, rows }),
  );
else {
  console.log(`${values.model} (${cfg.parameterization}), n = ${count} held-out images`);
  console.log('   t    sigma  rmse(D)  rmse(clip D)  |D|>1   eps gain  rmse(eps)');
  for (const r of rows)
    console.log(
      `${String(r.t).padStart(4)} ${r.sigma.toFixed(3).padStart(8)} ${r.rmse_d.toFixed(4).padStart(8)} ${r.rmse_d_clipped.toFixed(4).padStart(12)} ${(100 * r.share_outside).toFixed(1).padStart(6)}%` +
        ('eps_gain' in r
          ? ` ${r.eps_gain.toFixed(4).padStart(9)} ${r.rmse_eps.toFixed(4).padStart(10)}`
          : ''),
    );
}
