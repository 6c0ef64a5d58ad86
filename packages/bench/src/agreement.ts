import { join } from 'node:path';
import { referenceDir, runJsonChild, venvPython } from './env.ts';
import type { Log } from './stats.ts';

/**
 * The engine's samplers against diffusers' schedulers on the same checkpoints, noise, class
 * labels and sigma lists (bench/reference/diffusers_agreement.py, which runs the engine through
 * engine_sample.ts): max abs and RMS image differences and noise tiles per row.
 */
export interface AgreementRow {
  model: string;
  parameterization: string;
  engine: string;
  diffusers: string;
  steps: number;
  schedule: 'trailing' | 'leading' | 'engine-default';
  clip: boolean;
  sigma_max: number;
  n: number;
  noise_tiles_engine: number;
  noise_tiles_diffusers?: number;
  max_abs?: number;
  rms?: number;
  agree?: boolean;
  clip_changes_rms?: number;
  rms_vs_diffusers_default_clip?: number;
  noise_tiles_diffusers_default_clip?: number;
}

export interface AgreementResult {
  tol_rms: number;
  tol_max: number;
  noise_hf: number;
  steps: number[];
  n: number;
  seed: number;
  versions: Record<string, string>;
  rows: AgreementRow[];
}

export async function benchDiffusersAgreement(opts: {
  models: string[];
  steps: number[];
  n: number;
  seed: number;
  env?: Record<string, string>;
  log?: Log;
}): Promise<AgreementResult> {
  const args = [join(referenceDir, 'diffusers_agreement.py')];
  for (const m of opts.models) args.push('--model', m);
  args.push('--steps', opts.steps.join(','), '--n', String(opts.n), '--seed', String(opts.seed));
  opts.log?.(`diffusers-agreement: ${opts.models.join(', ')} at ${opts.steps.join('/')} steps`);
  const r = await runJsonChild('diffusers-agreement', venvPython, args, {
    env: opts.env,
    timeoutMs: 3 * 3600_000,
  });
  return r.line as unknown as AgreementResult;
}
