import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  aysSigmas,
  type LearnedSchedule,
  learnedScheduleFile,
  learnedScheduleSchema,
  loadNative,
  Model,
  presetUNet,
  resolveSchedule,
} from './index.ts';

// The exact-Gaussian setting of samplers.test.ts: data N(mean, U diag(lambda) U^T) has a
// closed-form denoiser, so a learned schedule can be scored without a network.
const theta = 0.6;
const U = new Float32Array([Math.cos(theta), -Math.sin(theta), Math.sin(theta), Math.cos(theta)]);
const mean = new Float32Array([1, -1]);
const lambda = new Float32Array([2, 0.25]);
const SIGMA_MAX = 80;
const SIGMA_MIN = 0.002;

function learn(sampler: string, sigmas: number[], extra: { sweeps?: number; n?: number } = {}) {
  return loadNative().sampling.learnGaussian({
    dim: 2,
    mean,
    eigvecs: U,
    eigvals: lambda,
    sampler,
    sigmas,
    n: extra.n ?? 256,
    seed: 0,
    heldoutSeed: 1,
    sigmaMin: SIGMA_MIN,
    reference: { sampler: 'heun', steps: 100 },
    sweeps: extra.sweeps ?? 6,
  });
}

function uniformInSigma(steps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(SIGMA_MAX + (i / (steps - 1)) * (SIGMA_MIN - SIGMA_MAX));
  return [...out, 0];
}

function expectValidSigmas(sigmas: number[], steps: number, start: number) {
  expect(sigmas).toHaveLength(steps + 1);
  expect(sigmas[0]).toBe(start);
  expect(sigmas[steps]).toBe(0);
  for (let i = 1; i < sigmas.length; i++) expect(sigmas[i]).toBeLessThan(sigmas[i - 1] ?? 0);
  for (let i = 0; i < steps; i++) expect(sigmas[i]).toBeGreaterThanOrEqual(SIGMA_MIN);
}

describe('schedule learning on the exact Gaussian denoiser', () => {
  // Uniform in sigma at 5 steps is [80, 60, 40, 20, 0.002, 0]: Euler's jump from sigma 20 lands
  // on D(x; 20), which keeps lambda / (lambda + 400) < 0.005 of each eigen-coordinate's spread,
  // while the ODE's endpoint keeps all of it (standard deviation sqrt(lambda)). The baseline's
  // mean squared error is therefore about mean(lambda) ~ 1.1, and any schedule that passes
  // through sigma ~ sqrt(lambda) before its last jump removes most of it: a tenth is a wide margin.
  for (const sampler of ['euler', 'dpmpp-2m']) {
    it(`${sampler}: improves uniform-in-sigma at 5 steps on train and held-out noise`, () => {
      const r = learn(sampler, uniformInSigma(5));
      expect(r.baselineTrain).toBeGreaterThan(0.5);
      expect(r.learnedTrain).toBeLessThan(0.1 * r.baselineTrain);
      expect(r.learnedHeldout).toBeLessThan(0.1 * r.baselineHeldout);
      expectValidSigmas(r.sigmas, 5, SIGMA_MAX);
      expectValidSigmas(r.dpSigmas, 5, SIGMA_MAX);
      expect(r.nfe).toBe(5);
      expect(r.cancelled).toBe(false);
      // The refinement is what the test is about, not the DP alone: it never ends above the DP
      // schedule's training error (it starts from the better of DP and baseline and accepts only
      // moves that lower it).
      expect(r.learnedTrain).toBeLessThanOrEqual(r.dpTrain);
      if (sampler === 'dpmpp-2m') {
        // The DP scores one-step DDIM jumps; DPM-Solver++(2M) reuses the previous step's
        // denoised, so the DP's optimum is not the 2M sampler's, and coordinate descent on the
        // sampler's own endpoint error must find a strictly better schedule.
        expect(r.learnedTrain).toBeLessThan(r.dpTrain);
      }
    });
  }

  it('refuses more sampler steps than the reference has, naming both (no out-of-range DP path)', () => {
    expect(() =>
      loadNative().sampling.learnGaussian({
        dim: 2,
        mean,
        eigvecs: U,
        eigvals: lambda,
        sampler: 'euler',
        sigmas: uniformInSigma(12),
        n: 8,
        seed: 0,
        heldoutSeed: 1,
        sigmaMin: SIGMA_MIN,
        reference: { sampler: 'heun', steps: 5 },
      }),
    ).toThrow(/takes 12 steps \(nfe 12\) but the reference has only 5 steps/);
    // Equal step counts are the edge that still has a path: every grid point once.
    const r = loadNative().sampling.learnGaussian({
      dim: 2,
      mean,
      eigvecs: U,
      eigvals: lambda,
      sampler: 'euler',
      sigmas: uniformInSigma(5),
      n: 8,
      seed: 0,
      heldoutSeed: 1,
      sigmaMin: SIGMA_MIN,
      reference: { sampler: 'heun', steps: 5 },
      sweeps: 0,
    });
    expectValidSigmas(r.dpSigmas, 5, SIGMA_MAX);
    expect(Number.isFinite(r.learnedTrain)).toBe(true);
  });

  it('never ends above the baseline it started from (moves are accepted only when they help)', () => {
    const karras = loadNative().sampling.sigmas({
      steps: 5,
      schedule: 'karras',
      sigmaMin: SIGMA_MIN,
      sigmaMax: SIGMA_MAX,
    });
    const r = learn('heun', karras, { sweeps: 2 });
    expect(r.learnedTrain).toBeLessThanOrEqual(r.baselineTrain);
    // And it beats Karras rho 7 on held-out noise (measured here: Heun at 9 NFE 0.98 -> 0.017;
    // Euler at 5 NFE 0.25 -> 0.06), not only on the batch it was fitted to.
    expect(r.learnedHeldout).toBeLessThan(r.baselineHeldout);
    const e = learn('euler', karras, { sweeps: 2 });
    expect(e.learnedHeldout).toBeLessThan(e.baselineHeldout);
    expect(r.nfe).toBe(9);
    expectValidSigmas(r.sigmas, 5, SIGMA_MAX);
  });

  it('refuses a stochastic sampler, naming it', () => {
    expect(() => learn('ddpm', uniformInSigma(5))).toThrow(
      /deterministic sampler.*ddpm is stochastic/,
    );
    // The samplers added after the learner are named too, not printed as "?".
    expect(() => learn('adaptive', uniformInSigma(5))).toThrow(/adaptive picks its own sigmas/);
    expect(() => learn('dpm-solver-2', uniformInSigma(5))).toThrow(
      /deterministic sampler.*dpm-solver-2 is not one of them/,
    );
  });

  it('refuses a multistep reference, naming the reference', () => {
    expect(() =>
      loadNative().sampling.learnGaussian({
        dim: 2,
        mean,
        eigvecs: U,
        eigvals: lambda,
        sampler: 'euler',
        sigmas: uniformInSigma(3),
        n: 8,
        reference: { sampler: 'dpmpp-2m', steps: 20 },
      }),
    ).toThrow(/reference sampler must be heun, euler or ddim/);
  });
});

describe('Model.learnSchedule on a tiny random model', () => {
  const config = {
    unet: { ...presetUNet('tiny', { resolution: 8, channels: 1 }), block_out_channels: [16, 32] },
    parameterization: 'eps' as const,
  };

  it('learns valid sigmas, reports progress, and refuses bad input with named errors', async () => {
    await using model = Model.create(config, 3);
    const phases = new Set<string>();
    let refine = { done: 0, total: -1 };
    const r = await model.learnSchedule({
      sampler: 'euler',
      nfe: 3,
      n: 4,
      reference: { sampler: 'heun', steps: 8 },
      sweeps: 1,
      onProgress: (p) => {
        phases.add(p.phase);
        if (p.phase === 'refine') refine = p;
      },
    });
    // The refine bar ends full even when accepted moves skipped trials.
    expect(refine.done).toBe(refine.total);
    const { sigmaMax } = model.sigmaRange();
    expect(r.sigmas).toHaveLength(4);
    expect(r.sigmas[0]).toBeCloseTo(sigmaMax, 6);
    expect(r.sigmas[3]).toBe(0);
    expect(r.learnedTrain).toBeLessThanOrEqual(r.baselineTrain);
    expect([...phases]).toEqual(expect.arrayContaining(['reference', 'grid', 'score']));
    await expect(model.learnSchedule({ sampler: 'euler', nfe: 0, n: 2 })).rejects.toThrow(
      /nfe must be >= 1/,
    );
    await expect(model.learnSchedule({ sampler: 'heun', nfe: 4, n: 2 })).rejects.toThrow(
      /nfe is odd/,
    );
    await expect(
      // @ts-expect-error: ddpm is not a learnable sampler, and the engine says so too
      model.learnSchedule({ sampler: 'ddpm', nfe: 4, n: 2 }),
    ).rejects.toThrow(/ddpm is stochastic/);
    await expect(
      model.learnSchedule({
        sampler: 'euler',
        nfe: 6,
        n: 2,
        reference: { sampler: 'heun', steps: 3 },
      }),
    ).rejects.toThrow(/takes 6 steps \(nfe 6\) but the reference has only 3 steps/);
    await expect(
      model.learnSchedule({ sampler: 'euler', nfe: 2, n: 2, seed: 7, heldoutSeed: 7 }),
    ).rejects.toThrow(/held-out seed must differ from the calibration seed \(both are 7\)/);
  });

  it('stops when aborted during the reference runs, returning the unscored baseline', async () => {
    await using model = Model.create(config, 3);
    const ac = new AbortController();
    const phases: string[] = [];
    const r = await model.learnSchedule({
      sampler: 'euler',
      nfe: 3,
      n: 2,
      reference: { sampler: 'heun', steps: 50 },
      signal: ac.signal,
      onProgress: (p) => {
        phases.push(`${p.phase}:${p.done}`);
        if (p.phase === 'reference' && p.done === 2) ac.abort();
      },
    });
    expect(r.cancelled).toBe(true);
    // It stopped inside the first reference run (of 2 x 50 steps), before the DP and any
    // sampler run: the abort reached the engine from the progress callback, not only between
    // sampler runs.
    expect(phases.every((p) => p.startsWith('reference:'))).toBe(true);
    expect(phases.length).toBeLessThan(50);
    expect(r.evaluations).toBe(0);
    expect(r.sigmas).toEqual(r.initialSigmas);
  });

  it('stops when aborted, returning the best schedule so far', async () => {
    await using model = Model.create(config, 3);
    const ac = new AbortController();
    ac.abort();
    const r = await model.learnSchedule({
      sampler: 'euler',
      nfe: 4,
      n: 2,
      reference: { sampler: 'euler', steps: 6 },
      signal: ac.signal,
    });
    expect(r.cancelled).toBe(true);
    expect(r.sigmas).toHaveLength(5);
  });
});

describe('schedule choices', () => {
  it('ays: the published list transferred to the model range, log-linear in between', () => {
    const s = aysSigmas(10, 0.0291671582, 14.6146412293);
    // At 10 steps on SD 1.5's own range the list is the published one, the last replaced by 0.
    expect(s[0]).toBeCloseTo(14.6146412293, 8);
    expect(s[5]).toBeCloseTo(1.3943805092, 8);
    expect(s[9]).toBeCloseTo(0.1515232662, 8);
    expect(s[10]).toBe(0);
    const t = aysSigmas(5, 0.01, 157);
    expect(t).toHaveLength(6);
    expect(t[0]).toBe(157);
    for (let i = 1; i < t.length; i++) expect(t[i]).toBeLessThan(t[i - 1] ?? 0);
  });

  it('a schedule file learned for another sampler or NFE is refused, naming both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-sched-'));
    const record: LearnedSchedule = learnedScheduleSchema.parse({
      sampler: 'euler',
      nfe: 3,
      steps: 3,
      sigmas: [80, 5, 0.5, 0],
      method: 'test',
      calibration: { n: 4, seed: 0, heldout_seed: 1, reference: { sampler: 'heun', steps: 8 } },
      scores: {
        baseline: { schedule: 'karras', train_error: 1, heldout_error: 1 },
        learned: { train_error: 0.5, heldout_error: 0.5 },
      },
      model: dir,
      created_at: new Date(0).toISOString(),
    });
    mkdirSync(join(dir, 'schedules'));
    const file = join(dir, learnedScheduleFile('euler', 3));
    writeFileSync(file, JSON.stringify(record));
    const sigmaRange = () => ({ sigmaMin: 0.002, sigmaMax: 80 });
    expect(
      resolveSchedule({ schedule: 'learned', sampler: 'euler', steps: 3, sigmaRange, dir }).sigmas,
    ).toEqual([80, 5, 0.5, 0]);
    expect(() =>
      resolveSchedule({ schedule: file, sampler: 'heun', steps: 2, sigmaRange, dir }),
    ).toThrow(/learned for --sampler euler at 3 NFE; this run asks for --sampler heun at 3 NFE/);
    expect(() =>
      resolveSchedule({ schedule: 'learned', sampler: 'euler', steps: 4, sigmaRange, dir }),
    ).toThrow(/anneal schedule learn --model .* --sampler euler --nfe 4/);
    expect(() => learnedScheduleSchema.parse({ ...record, sigmas: [80, 0.5, 5, 0] })).toThrow(
      /strictly decrease/,
    );
    // Learned on a model whose largest sigma is above this one's: refused, naming both.
    expect(() =>
      resolveSchedule({
        schedule: 'learned',
        sampler: 'euler',
        steps: 3,
        sigmaRange: () => ({ sigmaMin: 0.002, sigmaMax: 14.6 }),
        dir,
      }),
    ).toThrow(
      /starts at sigma 80, above this model's largest sigma 14.6 .*learned on another model/,
    );
  });

  it('the schema refuses equal calibration and held-out seeds, and a reference coarser than the schedule', () => {
    const base = {
      sampler: 'euler',
      nfe: 3,
      steps: 3,
      sigmas: [80, 5, 0.5, 0],
      method: 'test',
      calibration: { n: 4, seed: 0, heldout_seed: 1, reference: { sampler: 'heun', steps: 8 } },
      scores: {
        baseline: { schedule: 'karras', train_error: 1, heldout_error: 1 },
        learned: { train_error: 0.5, heldout_error: 0.5 },
      },
      model: 'm',
      created_at: new Date(0).toISOString(),
    };
    expect(learnedScheduleSchema.safeParse(base).success).toBe(true);
    const seeds = learnedScheduleSchema.safeParse({
      ...base,
      calibration: { ...base.calibration, heldout_seed: 0 },
    });
    expect(seeds.success).toBe(false);
    expect(seeds.error?.issues[0]?.path).toEqual(['calibration', 'heldout_seed']);
    expect(seeds.error?.issues[0]?.message).toMatch(/must differ from calibration.seed \(both 0\)/);
    const coarse = learnedScheduleSchema.safeParse({
      ...base,
      calibration: { ...base.calibration, reference: { sampler: 'heun', steps: 2 } },
    });
    expect(coarse.success).toBe(false);
    expect(coarse.error?.issues[0]?.path).toEqual(['calibration', 'reference', 'steps']);
  });

  it('ays checks the start sigma against the model range with the engine message', () => {
    const sigmaRange = () => ({ sigmaMin: 0.002, sigmaMax: 80 });
    expect(() =>
      resolveSchedule({ schedule: 'ays', sampler: 'euler', steps: 3, sigmaRange, sigmaMax: 1e6 }),
    ).toThrow("sigma_max 1e+06 is outside this model's sigma range (0.002, 80]");
    expect(() =>
      resolveSchedule({ schedule: 'ays', sampler: 'euler', steps: 3, sigmaRange, sigmaMax: 0.001 }),
    ).toThrow(/sigma_max 0.001 is outside/);
    expect(
      resolveSchedule({ schedule: 'ays', sampler: 'euler', steps: 3, sigmaRange, sigmaMax: 40 })
        .sigmas?.[0],
    ).toBe(40);
  });
});
