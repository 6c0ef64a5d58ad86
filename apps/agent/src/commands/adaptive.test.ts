import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluationSummarySchema, sampleSummarySchema } from '@anneal/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAnneal, runAnnealHere, trainTinyModel } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-adaptive-home-'));
const dir = mkdtempSync(join(tmpdir(), 'anneal-adaptive-'));
const model = join(dir, 'run');

const anneal = (args: string[]) => runAnneal(args, home);

// A few steps of a tiny model: the sampler needs a network, not a good one.
beforeAll(() => {
  trainTinyModel(model, home);
});

describe('anneal sample --sampler adaptive', () => {
  it.each([
    [['--rtol', '0.1'], /--rtol: needs --sampler adaptive/],
    [['--sampler', 'euler', '--atol', '0.1'], /--atol: needs --sampler adaptive/],
    [
      ['--sampler', 'adaptive', '--steps', '10'],
      /--steps: the adaptive sampler picks its own steps/,
    ],
    [['--sampler', 'adaptive', '--schedule', 'karras'], /--schedule: the adaptive sampler picks/],
    [['--sampler', 'adaptive', '--rtol', '0'], /--rtol: must be > 0/],
    [['--sampler', 'adaptive', '--atol', 'x'], /--atol/],
  ])('exits 2 naming the flag: %s', async (args, message) => {
    const r = await runAnnealHere(
      ['sample', '--model', model, '--out', join(dir, 'bad.png'), ...args],
      home,
    );
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('prints the NFE per image and is byte-identical for a seed', () => {
    const run = (out: string, seed: string) =>
      anneal([
        'sample',
        '--model',
        model,
        '--out',
        join(dir, out),
        '--sampler',
        'adaptive',
        '--rtol',
        '0.1',
        '--atol',
        '0.02',
        '--n',
        '4',
        '--seed',
        seed,
        '--json',
      ]);
    const a = run('a.png', '1');
    expect(a.status, a.stderr).toBe(0);
    const per = a.json?.nfe_per_image as {
      mean: number;
      min: number;
      max: number;
      values: number[];
    };
    expect(per.values).toHaveLength(4);
    expect(per.min).toBe(Math.min(...per.values));
    expect(per.max).toBe(Math.max(...per.values));
    expect(per.mean).toBeCloseTo(per.values.reduce((x, y) => x + y, 0) / 4, 10);
    expect(a.json).toMatchObject({ sampler: 'adaptive', rtol: 0.1, atol: 0.02, nfe: per.max });
    // It picks its own sigmas: no schedule to report.
    expect(a.json).not.toHaveProperty('schedule');
    // What a sample job's summary keeps (the server parses it on arrival).
    expect(sampleSummarySchema.parse(a.json)).toMatchObject({
      rtol: 0.1,
      atol: 0.02,
      nfe_per_image: per,
    });
    // Unconditional, no guidance: one row per evaluation.
    const total = per.values.reduce((x, y) => x + y, 0);
    expect(a.json?.rows_evaluated).toBe(total);
    // Each attempt (accepted or rejected) costs two evaluations and each image's final step
    // one: the rejected attempts fit in what was spent beyond that.
    const rejected = a.json?.rejected_steps as number;
    expect(Number.isInteger(rejected) && rejected >= 0).toBe(true);
    expect(total - 4 - 2 * rejected).toBeGreaterThanOrEqual(2 * 4);
    expect((total - 4 - 2 * rejected) % 2).toBe(0);
    const b = run('b.png', '1');
    expect(b.status, b.stderr).toBe(0);
    expect(readFileSync(join(dir, 'a.png')).equals(readFileSync(join(dir, 'b.png')))).toBe(true);
    const text = anneal([
      'sample',
      '--model',
      model,
      '--out',
      join(dir, 'c.png'),
      '--sampler',
      'adaptive',
      '--n',
      '2',
    ]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/adaptive, NFE per image mean [\d.]+, min \d+, max \d+/);
  });
});

describe('anneal eval --sampler adaptive', () => {
  it('reports the NFE per image beside the metrics', () => {
    const r = anneal([
      'eval',
      '--model',
      model,
      '--n',
      '20',
      '--extractor-steps',
      '20',
      '--extractor-width',
      '8',
      '--sampler',
      'adaptive',
      '--rtol',
      '0.1',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const per = r.json?.nfe_per_image as { mean: number; min: number; max: number };
    expect(per.min).toBeGreaterThan(0);
    expect(per.max).toBeGreaterThanOrEqual(per.mean);
    expect(per.mean).toBeGreaterThanOrEqual(per.min);
    expect(r.json).toMatchObject({ sampler: 'adaptive', rtol: 0.1, nfe: per.max });
    expect(r.json).not.toHaveProperty('schedule');
    // The steps taken, not the unused --steps default (20): each accepted step costs two
    // evaluations and the final step one, so no image took more than (max NFE + 1) / 2 steps.
    const steps = r.json?.steps as number;
    expect(steps).toBeGreaterThanOrEqual(1);
    expect(steps).toBeLessThanOrEqual((per.max + 1) / 2);
    // What the model version records keeps the NFE per image and the tolerance.
    expect(evaluationSummarySchema.parse(r.json)).toMatchObject({
      steps,
      rtol: 0.1,
      nfe_per_image: per,
    });
    expect(typeof r.json?.fd).toBe('number');
    const bad = anneal(['eval', '--model', model, '--n', '20', '--atol', '0.1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--atol: needs --sampler adaptive/);
  });
});

describe('anneal complexity fit and anneal sample --steps auto', () => {
  const out = join(dir, 'auto.png');
  it('--steps auto without a fitted predictor names the file and the command that fits it', () => {
    const r = anneal(['sample', '--model', model, '--out', out, '--steps', 'auto', '--n', '2']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /step-predictor\.json does not exist: fit one with `anneal complexity fit/,
    );
  });

  it.each([
    [['complexity'], /needs a subcommand: fit/],
    [['complexity', 'fix'], /unknown subcommand "fix"/],
    [['complexity', 'fit'], /--model: is required/],
    [['complexity', 'fit', '--model', model, '--grid', '4,x'], /--grid/],
    [
      ['complexity', 'fit', '--model', model, '--grid', '4,8', '--reference-steps', '8'],
      /--reference-steps: must exceed/,
    ],
    [['complexity', 'fit', '--model', model, '--sampler', 'ddpm'], /--sampler/],
    [
      ['sample', '--model', model, '--out', out, '--steps', 'auto', '--sampler', 'euler'],
      /--sampler: not with --steps auto/,
    ],
    [
      ['sample', '--model', model, '--out', out, '--steps', 'auto', '--schedule', 'karras'],
      /--schedule: not with --steps auto \(the step predictor was calibrated on the default schedule/,
    ],
    [
      ['sample', '--model', model, '--out', out, '--steps', 'auto', '--sigma-max', '10'],
      /--sigma-max: not with --steps auto/,
    ],
    [
      ['sample', '--model', model, '--out', out, '--steps', 'many'],
      /--steps: must be a whole number from 1 to 1000, or auto/,
    ],
  ])('exits 2 naming the problem: %s', async (args, message) => {
    const r = await runAnnealHere(args, home);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('fits DIR/step-predictor.json, then --steps auto samples with the steps it predicts', () => {
    const fit = anneal([
      'complexity',
      'fit',
      '--model',
      model,
      '--n',
      '8',
      '--grid',
      '2,4,8',
      '--reference-steps',
      '16',
      '--rtol',
      '0.1',
      '--json',
    ]);
    expect(fit.status, fit.stderr).toBe(0);
    expect(fit.json).toMatchObject({ sampler: 'dpmpp-2m', rtol: 0.1, n: 8 });
    const saved = JSON.parse(readFileSync(join(model, 'step-predictor.json'), 'utf8'));
    // How many calibration images the grid's largest count left short is recorded and reported.
    const capped = saved.calibration.capped as number;
    expect(Number.isInteger(capped) && capped >= 0 && capped <= 8).toBe(true);
    expect(fit.json?.capped).toBe(capped);
    expect(saved).toMatchObject({ version: 1, sampler: 'dpmpp-2m', minSteps: 2, maxSteps: 8 });
    expect(saved.calibration.grid).toEqual([2, 4, 8]);
    const r = anneal([
      'sample',
      '--model',
      model,
      '--out',
      out,
      '--steps',
      'auto',
      '--n',
      '3',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const auto = r.json?.steps_auto as { chosen: number; per_image: { values: number[] } };
    expect(auto.per_image.values).toHaveLength(3);
    expect(auto.chosen).toBe(Math.max(...auto.per_image.values));
    for (const v of auto.per_image.values) expect([2, 3, 4, 5, 6, 7, 8]).toContain(v);
    expect(r.json).toMatchObject({ sampler: 'dpmpp-2m', steps: auto.chosen, nfe: auto.chosen });
    expect(auto).toMatchObject({ rtol: 0.1, atol: saved.atol });
    const text = anneal(['sample', '--model', model, '--out', out, '--steps', 'auto', '--n', '2']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/steps auto: \d+ dpmpp-2m steps for this request/);
    expect(text.stdout).toContain(`adaptive solver at rtol 0.1, atol ${saved.atol}`);
  });
});

describe('anneal bench --only complexity', () => {
  it('needs --model', () => {
    const r = anneal(['bench', '--only', 'complexity']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/complexity needs --model DIR/);
  });

  it('refuses adaptive or consistency among the fixed-step --samplers', () => {
    for (const s of ['adaptive', 'consistency']) {
      const r = anneal([
        'bench',
        '--only',
        'complexity',
        '--model',
        model,
        '--samplers',
        `dpmpp-2m,${s}`,
      ]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--samplers: complexity: --samplers are the fixed-step ladders/);
    }
  });

  it('writes complexity.json and complexity.svg (smoke: tiny model, tiny n; numbers mean nothing), and resumes from the runs it kept', () => {
    const results = join(dir, 'bench');
    const samples = join(dir, 'complexity-samples');
    const bench = () =>
      anneal([
        'bench',
        '--only',
        'complexity',
        '--model',
        model,
        '--n',
        '10',
        '--rtols',
        '0.2,0.1',
        '--ladder',
        '2,4',
        '--extractor-steps',
        '20',
        '--extractor-width',
        '8',
        '--results',
        results,
        '--samples-dir',
        samples,
        '--spread',
        '5',
        '--json',
      ]);
    const r = bench();
    expect(r.status, r.stderr).toBe(0);
    const file = (r.json?.results ?? {}) as Record<string, { result: unknown }>;
    const c = file.complexity?.result as {
      adaptive: Array<{ rtol: number; mean_nfe: number; fd: number; fd_std: number | null }>;
      fixed: Array<{
        sampler: string;
        steps: number;
        nfe_per_image: number;
        fd_std: number | null;
      }>;
      floor: { fd: number; fd_std: number | null };
      equal_fd: Array<{ fixed: Array<{ sampler: string; bound: string }> }>;
      per_sample: { rtol: number; nfe: number[]; complexity: number[] };
      measure: { name: string };
    };
    expect(c.adaptive.map((a) => a.rtol)).toEqual([0.2, 0.1]);
    for (const a of c.adaptive) expect(Number.isFinite(a.fd)).toBe(true);
    // --spread reaches every FD and the floor: a bootstrap spread of 5 resamples, > 0.
    for (const x of [...c.adaptive, ...c.fixed, c.floor]) expect(x.fd_std).toBeGreaterThan(0);
    // dpm-solver-2 at 2 and 4 NFE is 1 and 2 steps (1 and 3 NFE); dpmpp-2m 2 and 4 steps.
    expect(c.fixed.map((f) => [f.sampler, f.steps, f.nfe_per_image])).toEqual([
      ['dpm-solver-2', 1, 1],
      ['dpm-solver-2', 2, 3],
      ['dpmpp-2m', 2, 2],
      ['dpmpp-2m', 4, 4],
    ]);
    expect(c.equal_fd[0]?.fixed.map((f) => f.sampler)).toEqual(['dpm-solver-2', 'dpmpp-2m']);
    expect(c.per_sample.nfe).toHaveLength(10);
    expect(c.per_sample.complexity).toHaveLength(10);
    expect(c.measure.name).toBe('laplacian');
    const svg = readFileSync(join(results, 'complexity.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toMatch(/Spearman rho/);
    // Every run's chunks were kept: a second sitting samples nothing and measures the same.
    const again = bench();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr.match(/1 of 1 chunks were kept from an earlier sitting/g)).toHaveLength(6);
    const c2 = ((again.json?.results ?? {}) as Record<string, { result: typeof c }>).complexity
      ?.result;
    expect(c2?.adaptive.map((a) => [a.mean_nfe, a.fd])).toEqual(
      c.adaptive.map((a) => [a.mean_nfe, a.fd]),
    );
    expect(c2?.per_sample.nfe).toEqual(c.per_sample.nfe);
  });
});
