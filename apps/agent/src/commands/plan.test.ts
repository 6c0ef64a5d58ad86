import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { costTableSchema, planSchema, qualityCurveSchema } from '@anneal/engine/config';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAnneal, runAnnealHere, trainTinyModel } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-plan-home-'));
const model = join(mkdtempSync(join(tmpdir(), 'anneal-plan-')), 'run');
const anneal = (args: string[]) => runAnneal(args, home);

// A few steps of a tiny model: the plan needs a checkpoint, not a good one.
beforeAll(() => {
  trainTinyModel(model, home);
});

// Small everything: two batch sizes, one dtype, two NFE per sampler, 40 samples.
const small = [
  '--model',
  model,
  '--batches',
  '1,2',
  '--dtypes',
  'float32',
  '--samplers',
  'euler,heun:karras',
  '--nfe',
  '2,5',
  '--n',
  '40',
  '--extractor-steps',
  '40',
  '--extractor-width',
  '8',
  '--repeats',
  '2',
];

describe('anneal plan', () => {
  it.each([
    [['--model', model], /one objective is required/],
    [['--model', model, '--latency-ms', '5', '--max-fd', '3'], /one objective at a time/],
    [['--model', model, '--latency-ms', 'soon'], /--latency-ms/],
    [['--model', model, '--throughput', '5', '--dtypes', 'int8'], /--dtypes/],
    [['--model', model, '--throughput', '5', '--samplers', 'euler:karras:x'], /--samplers/],
    [['--model', model, '--throughput', '5', '--batches', '1,128'], /--batches.*64/],
    [['--model', model, '--throughput', '5', '--batch', '4'], /--batch: a --throughput plan/],
    [['--model', model, '--throughput', '5', '--samplers', 'adaptive'], /--samplers.*adaptive/],
  ])('exits 2 naming the flag: %s', async (args, message) => {
    const r = await runAnnealHere(['plan', ...args], home);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('measures a curve and a cost table, chooses within the bound, runs and saves the plan', () => {
    const r = anneal([
      ...['plan', ...small, '--latency-ms', '100000', '--save', '--verify-fd', '20', '--json'],
    ]);
    expect(r.status, r.stderr).toBe(0);
    const curve = qualityCurveSchema.parse(
      JSON.parse(readFileSync(join(model, 'quality-curve.json'), 'utf8')),
    );
    // euler at 2 and 5 NFE; heun at 3 steps (5 NFE: 2S - 1) and 1 step (1 NFE <= 2).
    expect(curve.points.map((p) => `${p.sampler}:${p.nfe}`).sort()).toEqual([
      'euler:2',
      'euler:5',
      'heun:1',
      'heun:5',
    ]);
    for (const p of curve.points) expect(p.floor).toBe(curve.points[0]?.floor);
    const out = r.json as { plan: unknown };
    const plan = planSchema.parse(out.plan);
    // With all the time in the world, the lowest FD on the curve wins.
    expect(plan.predicted.fd).toBe(Math.min(...curve.points.map((p) => p.fd)));
    expect(plan.measured?.timesMs).toHaveLength(2);
    expect(plan.measured).toMatchObject({ fdN: 20 });
    expect(plan.measured?.fd).toBeGreaterThan(0);
    expect(plan.measured?.latencyRatio).toBeGreaterThan(0);
    expect(planSchema.parse(JSON.parse(readFileSync(join(model, 'plan.json'), 'utf8')))).toEqual(
      plan,
    );
    const costs = join(home, 'cache', 'costs');
    expect(existsSync(costs)).toBe(true);

    // anneal sample --plan takes the saved plan's sampler and steps.
    const s = anneal([
      'sample',
      '--model',
      model,
      '--out',
      join(home, 's.png'),
      '--n',
      '2',
      '--plan',
      '--json',
    ]);
    expect(s.status, s.stderr).toBe(0);
    expect(s.json).toMatchObject({ sampler: plan.sampler, steps: plan.steps, nfe: plan.nfe });
    const clash = anneal([
      'sample',
      '--model',
      model,
      '--out',
      join(home, 's.png'),
      '--plan',
      '--steps',
      '3',
    ]);
    expect(clash.status).toBe(2);
    expect(clash.stderr).toMatch(/--plan: .*drop --steps/);
  });

  it('refuses a bound nothing meets, naming the nearest option', () => {
    const r = anneal(['plan', ...small, '--latency-ms', '0.001']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /no plan meets 0\.001 ms for 1 image\(s\); the fastest is \S+ \d+ NFE, batch 1/,
    );
    const fd = anneal(['plan', ...small, '--max-fd', '0.0000001']);
    expect(fd.status).toBe(1);
    expect(fd.stderr).toMatch(/no measured option reaches FD <= 1e-7; the lowest is/);
  });

  it('reuses the cached cost table for the same profile and architecture', () => {
    // Measured here (or already by an earlier test): the second call must be the cache.
    const first = anneal(['plan', 'costs', ...small.slice(0, 6), '--json']);
    expect(first.status, first.stderr).toBe(0);
    const r = anneal(['plan', 'costs', ...small.slice(0, 6), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.json as { cached: boolean; path: string };
    expect(out.cached).toBe(true);
    const table = costTableSchema.parse(JSON.parse(readFileSync(out.path, 'utf8')));
    expect(table.entries.map((e) => e.batch)).toEqual([1, 2]);
  });

  it('measures again over a cost cache that is not JSON, naming the file', () => {
    const first = anneal(['plan', 'costs', ...small.slice(0, 6), '--json']);
    expect(first.status, first.stderr).toBe(0);
    const path = (first.json as { path: string }).path;
    writeFileSync(path, '{"version": 1, "entr');
    const r = anneal(['plan', 'costs', ...small.slice(0, 6), '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr, JSON.stringify([r.stdout.slice(-300), path])).toContain(
      `${path}: not valid JSON`,
    );
    expect(r.json).toMatchObject({ cached: false, path });
    costTableSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  });

  it('asks again for a dtype an older table skipped without the engine refusing it', () => {
    const args = ['plan', 'costs', '--model', model, '--batches', '1', '--repeats', '1'];
    const first = anneal([...args, '--dtypes', 'float32', '--json']);
    expect(first.status, first.stderr).toBe(0);
    const path = (first.json as { path: string }).path;
    const table = costTableSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    const oom = { dtype: 'bfloat16', reason: 'std::bad_alloc' };
    writeFileSync(path, JSON.stringify({ ...table, skipped: [oom] }));
    const r = anneal([...args, '--dtypes', 'float32,bfloat16', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const after = r.json as { cached: boolean; skipped: unknown[]; entries: { dtype: string }[] };
    expect(after.cached).toBe(false);
    // bfloat16 runs here: measured now, the stale refusal gone, float32 kept from the cache.
    expect(after.skipped).toEqual([]);
    // (float32 may have more batches than 1 when an earlier test measured them.)
    expect([...new Set(after.entries.map((e) => e.dtype))].sort()).toEqual(['bfloat16', 'float32']);
    // A refusal the engine made (unsupported) is an answer: not asked again.
    const refused = { dtype: 'bfloat16', reason: 'unsupported', unsupported: true };
    writeFileSync(path, JSON.stringify({ ...table, skipped: [refused] }));
    const again = anneal([...args, '--dtypes', 'float32,bfloat16', '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ cached: true, skipped: [refused] });
  });

  it('keeps a median table and a min table side by side', () => {
    const args = ['plan', 'costs', '--model', model, '--batches', '1', '--dtypes', 'float32'];
    const median = anneal([...args, '--repeats', '1', '--json']);
    expect(median.status, median.stderr).toBe(0);
    const min = anneal([...args, '--repeats', '1', '--statistic', 'min', '--json']);
    expect(min.status, min.stderr).toBe(0);
    expect(min.json).toMatchObject({ statistic: 'min' });
    // Measuring the min table did not discard the median one.
    const again = anneal([...args, '--json']);
    expect(again.json).toMatchObject({ cached: true, statistic: 'median' });
    expect((again.json as { path: string }).path).not.toBe((min.json as { path: string }).path);
  });

  it('refuses to discard a curve read on another ruler unless --replace', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'anneal-plan-ruler-')), 'run');
    cpSync(model, dir, { recursive: true });
    rmSync(join(dir, 'quality-curve.json'), { force: true });
    const curve = (n: string, ...more: string[]) =>
      anneal([
        ...['plan', 'curve', ...small.slice(2), '--model', dir, '--samplers', 'euler'],
        ...['--nfe', '2', '--n', n, ...more, '--json'],
      ]);
    expect(curve('40').status).toBe(0);
    const path = join(dir, 'quality-curve.json');
    const before = readFileSync(path, 'utf8');
    const r = curve('50');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/another ruler \(n 40, not 50\).*--replace/);
    expect(readFileSync(path, 'utf8')).toBe(before);
    const replaced = curve('50', '--replace');
    expect(replaced.status, replaced.stderr).toBe(0);
    expect(qualityCurveSchema.parse(JSON.parse(readFileSync(path, 'utf8'))).n).toBe(50);
  });

  it("never reads a curve or a plan of other weights as this model's", () => {
    // Its own copy of the checkpoint: retraining is simulated by recording other weights.
    const dir = join(mkdtempSync(join(tmpdir(), 'anneal-plan-weights-')), 'run');
    cpSync(model, dir, { recursive: true });
    for (const f of ['quality-curve.json', 'plan.json']) rmSync(join(dir, f), { force: true });
    const args = [...small.slice(2), '--model', dir];
    const first = anneal(['plan', 'curve', ...args, '--samplers', 'euler', '--nfe', '2', '--json']);
    expect(first.status, first.stderr).toBe(0);
    const path = join(dir, 'quality-curve.json');
    const curve = qualityCurveSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    expect(curve.weights).toMatch(/^[0-9a-f]{64}$/);
    const other = 'f'.repeat(64);
    const ghost = { ...curve.points[0], sampler: 'ddim', fd: 12345 };
    writeFileSync(path, JSON.stringify({ ...curve, weights: other, points: [ghost] }));
    const again = anneal(['plan', 'curve', ...args, '--samplers', 'euler', '--nfe', '2', '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/quality-curve\.json was measured on other weights/);
    const fresh = qualityCurveSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    expect(fresh.weights).toBe(curve.weights);
    expect(fresh.points.map((p) => p.sampler)).toEqual(['euler']);

    const saved = anneal(['plan', ...args, '--latency-ms', '100000', '--save', '--json']);
    expect(saved.status, saved.stderr).toBe(0);
    const planPath = join(dir, 'plan.json');
    const plan = planSchema.parse(JSON.parse(readFileSync(planPath, 'utf8')));
    expect(plan.weights).toBe(curve.weights);
    // A plan chosen on another machine samples the same, with a warning.
    writeFileSync(planPath, JSON.stringify({ ...plan, profileKey: 'metal-Apple_M9-8t' }));
    const elsewhere = anneal(['sample', '--model', dir, '--out', join(dir, 's.png'), '--plan']);
    expect(elsewhere.status, elsewhere.stderr).toBe(0);
    expect(elsewhere.stderr).toMatch(/chosen on another machine \(metal-Apple_M9-8t; this is /);
    writeFileSync(planPath, JSON.stringify({ ...plan, weights: other }));
    const s = anneal(['sample', '--model', dir, '--out', join(dir, 's.png'), '--n', '1', '--plan']);
    expect(s.status).toBe(1);
    expect(s.stderr).toMatch(/--plan: .*plan\.json was measured on other weights/);
  });
});
