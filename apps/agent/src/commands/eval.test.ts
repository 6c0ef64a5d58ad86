import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAnneal, runAnnealHere, trainTinyModel } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-eval-home-'));
const model = join(mkdtempSync(join(tmpdir(), 'anneal-eval-')), 'run');

const anneal = (args: string[]) => runAnneal(args, home);

// A few steps of a tiny model: the metrics need a checkpoint, not a good one.
beforeAll(() => {
  trainTinyModel(model, home);
});

const quick = ['--model', model, '--n', '40', '--extractor-steps', '60', '--extractor-width', '8'];

describe('anneal eval', () => {
  it.each([
    [['--model', model, '--n', 'many'], /--n/],
    [['--model', model, '--sampler', 'nope'], /--sampler/],
    [['--model', model, '--reference-steps', '5'], /--reference-steps: needs --reference-sampler/],
    [['--model', model, '--extractor-width', '12'], /--extractor-width: must be a multiple of 8/],
    [['--n', '50'], /--model/],
    [[...quick.slice(0, 2), '--n', '5000'], /--n: .*held-out 1000/],
    [['--model', model, '--resolution', '4'], /--resolution: each side must be in 8\.\.512/],
    [['--model', model, '--resolution', '8,8'], /--resolution: lists a resolution twice/],
    [['--model', model, '--resolution', '16x'], /--resolution: must be a comma-separated list/],
    [['--model', model, '--resolution', '16,16x16'], /--resolution: lists a resolution twice/],
    [
      ['--model', model, '--resolution', '8x16'],
      /--resolution: 8x16: held-out images of other aspects than square exist only for a multi-resolution model/,
    ],
    [['--model', model, '--resolution', '9'], /--resolution: resolution 9: .*multiples of 2/],
    [['--model', model, '--grid', 'samples.jpg'], /--grid: must end in \.png/],
  ])('exits 2 naming the flag: %s', async (args, message) => {
    const r = await runAnnealHere(['eval', ...args], home);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('scores each --resolution against held-out images at that resolution, beside its own floor (issue 16 §5)', () => {
    // Its own ANNEAL_HOME: the extractors it trains must not be the cache the other tests
    // expect to find empty.
    const own = mkdtempSync(join(tmpdir(), 'anneal-eval-resolutions-'));
    const anneal = (args: string[]) => runAnneal(args, own);
    const r = anneal([
      'eval',
      ...quick,
      '--sampler',
      'euler',
      '--steps',
      '2',
      '--resolution',
      '16,8',
      '--grid',
      join(own, 'grid.png'),
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    // The grid shows the first resolution's first 16 samples: 4 x 4 tiles of 16 px, 2 px apart.
    const png = readFileSync(join(own, 'grid.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([4 * 16 + 5 * 2, 4 * 16 + 5 * 2]);
    const j = r.json as {
      resolution: number;
      fd: number;
      floor_fd: number;
      per_resolution: Array<{ resolution: number; n: number; fd: number; floor_fd: number }>;
    };
    expect(j.per_resolution.map((e) => e.resolution)).toEqual([16, 8]);
    // The top level is the first resolution's.
    expect(j.resolution).toBe(16);
    expect(j.fd).toBe(j.per_resolution[0]?.fd);
    for (const e of j.per_resolution) {
      expect(e.n).toBe(40);
      expect(e.fd).toBeGreaterThan(0);
      expect(e.floor_fd).toBeGreaterThan(0);
    }
    // Each resolution has its own extractor and real sets, so its own floor.
    expect(j.per_resolution[0]?.floor_fd).not.toBe(j.per_resolution[1]?.floor_fd);
    // 8 px is the model's own resolution: the same numbers as a plain eval at the same seed.
    const plain = anneal(['eval', ...quick, '--sampler', 'euler', '--steps', '2', '--json']);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.json?.fd).toBe(j.per_resolution[1]?.fd);
    expect(plain.json?.floor_fd).toBe(j.per_resolution[1]?.floor_fd);
    expect(plain.json).not.toHaveProperty('per_resolution');
  }, 300_000);

  it('exits 1 naming a folder that is not a checkpoint', () => {
    const r = anneal(['eval', '--model', home, '--n', '20']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/config\.json/);
  });

  it('reports every metric with its floor, then reuses the extractor', () => {
    const r = anneal([
      'eval',
      ...quick,
      '--sampler',
      'euler',
      '--steps',
      '3',
      '--reference-sampler',
      'heun',
      '--reference-steps',
      '3',
      '--spread',
      '10',
      '--json',
      '--events',
    ]);
    expect(r.status, r.stderr).toBe(0);
    // The progress events name every phase of the job, in order, each ending complete.
    const progress = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            event?: string;
            phase?: string;
            step: number;
            total: number;
            eta_s?: number;
            eta_lower_bound?: boolean;
          },
      )
      .filter((e) => e.event === 'progress');
    expect([...new Set(progress.map((e) => e.phase))]).toEqual([
      'extractor',
      'sample',
      'scoring',
      'reference',
    ]);
    for (const phase of ['extractor', 'sample', 'scoring', 'reference']) {
      const last = progress.filter((e) => e.phase === phase).at(-1);
      expect(last?.step, phase).toBe(last?.total);
    }
    // Time left covers the whole job: a lower bound while the extractor trains (sampling has
    // no rate yet), then the sampling with the reference estimated from it.
    for (const e of progress.filter((p) => p.phase === 'extractor' && p.eta_s !== undefined))
      expect(e.eta_lower_bound).toBe(true);
    const sampled = progress.filter((e) => e.phase === 'sample').at(-1);
    expect(sampled?.eta_lower_bound).toBe(false);
    expect(sampled?.eta_s).toBeGreaterThan(0);
    const j = r.json as Record<string, unknown>;
    for (const key of ['fd', 'kid', 'precision', 'recall', 'floor_fd', 'floor_kid', 'accuracy'])
      expect(Number.isFinite(j[key]), key).toBe(true);
    expect(j).toMatchObject({
      n: 40,
      nfe: 3,
      extractor_kind: 'classifier',
      extractor_cached: false,
      extractor_source: 'trained',
      // A class-conditional model: both real sets in its samples' layout (class i mod K).
      real_sets: 'class-stratified',
    });
    expect(j.extractor).toMatch(/^[0-9a-f]{24}$/);
    expect(j.extractor_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(j.fd as number).toBeGreaterThan(j.floor_fd as number);
    // FD's bootstrap spread, for the samples and for the floor: an interval around each.
    type Spread = { std: number; low: number; high: number; resamples: number };
    for (const [spread, fd] of [
      [j.fd_spread, j.fd],
      [j.floor_fd_spread, j.floor_fd],
    ] as Array<[Spread, number]>) {
      expect(spread.resamples).toBe(10);
      expect(spread.std).toBeGreaterThan(0);
      expect(spread.low).toBeLessThan(spread.high);
      // Resampling with replacement repeats rows and inflates FD, so the interval may sit above
      // the estimate; it must still be near it, within a few standard deviations.
      expect(Math.abs(fd - (spread.low + spread.high) / 2)).toBeLessThan(4 * spread.std);
    }
    const paired = j.paired as Record<string, number>;
    expect(paired.reference_nfe).toBe(5);
    expect(paired.ssim).toBeLessThan(1);
    expect(paired.feature_distance).toBeGreaterThan(0);

    // Same sampler and steps as the reference: identical noise must give identical images.
    const same = anneal([
      'eval',
      ...quick,
      '--sampler',
      'euler',
      '--steps',
      '3',
      '--reference-sampler',
      'euler',
      '--reference-steps',
      '3',
      '--json',
    ]);
    expect(same.status, same.stderr).toBe(0);
    // The spread is asked for, not paid for by every evaluation.
    expect(same.json).not.toHaveProperty('fd_spread');
    expect(same.json).toMatchObject({
      extractor: j.extractor,
      extractor_cached: true,
      extractor_source: 'cache',
      extractor_sha256: j.extractor_sha256,
      fd: j.fd,
      floor_fd: j.floor_fd,
      paired: { psnr: null, ssim: 1, feature_distance: 0 },
    });
    // The samples were kept (ANNEAL_HOME/samples, a folder per model and setting); a run whose
    // chunk was lost draws it again, the same images.
    const samples = join(home, 'samples');
    const euler3 = readdirSync(samples).filter((d) => {
      const spec = JSON.parse(readFileSync(join(samples, d, 'spec.json'), 'utf8'));
      return spec.sampler === 'euler' && spec.steps === 3 && spec.sigma_max === null;
    });
    expect(euler3).toHaveLength(1);
    const record = join(samples, euler3[0] as string, 'chunk-000000.json');
    expect(existsSync(record)).toBe(true);
    rmSync(record);
    const redrawn = anneal(['eval', ...quick, '--sampler', 'euler', '--steps', '3', '--json']);
    expect(redrawn.status, redrawn.stderr).toBe(0);
    expect(existsSync(record)).toBe(true);
    expect(redrawn.json?.fd).toBe(j.fd);
    // --samples-dir: chunks kept elsewhere (a folder committed beside the model) are read from
    // there, not drawn again.
    const elsewhere = mkdtempSync(join(tmpdir(), 'anneal-eval-samples-'));
    cpSync(join(samples, euler3[0] as string), join(elsewhere, euler3[0] as string), {
      recursive: true,
    });
    const copied = join(elsewhere, euler3[0] as string, 'chunk-000000.json');
    const drawnAt = statSync(copied).mtimeMs;
    const moved = anneal([
      'eval',
      ...quick,
      '--sampler',
      'euler',
      '--steps',
      '3',
      '--samples-dir',
      elsewhere,
      '--json',
    ]);
    expect(moved.status, moved.stderr).toBe(0);
    expect(moved.json?.fd).toBe(j.fd);
    expect(statSync(copied).mtimeMs).toBe(drawnAt);
    expect(readdirSync(elsewhere)).toEqual([euler3[0]]);
  });

  it('--sigma-max starts the sampler lower: reported, and apart from the full-range reference', () => {
    const r = anneal([
      'eval',
      ...quick,
      '--sampler',
      'euler',
      '--steps',
      '3',
      '--sigma-max',
      '5',
      '--reference-sampler',
      'euler',
      '--reference-steps',
      '3',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    // Identical noise and sampler: only the start sigma (5, not 157) separates the two sets.
    expect(r.json).toMatchObject({ sigma_max: 5 });
    const paired = (r.json as { paired: Record<string, number> }).paired;
    expect(paired.ssim).toBeLessThan(1);
    const out = anneal(['eval', ...quick, '--sigma-max', '1000']);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/--sigma-max: sigma_max 1000 is outside this model's sigma range/);
  });

  it('prints a table with the floor beside each metric', () => {
    const r = anneal(['eval', ...quick, '--sampler', 'euler', '--steps', '2']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/floor \(real vs real\)/);
    expect(r.stdout).toMatch(/^\s+FD\s+\d/m);
    expect(r.stdout).toMatch(/N = 40/);
    expect(r.stdout).toMatch(/held-out accuracy/);
    expect(r.stdout).not.toMatch(/nearest training image/);
  });

  it('--memorization reports nearest-neighbour distances of samples and held-out images', () => {
    const r = anneal([
      'eval',
      ...quick,
      '--sampler',
      'euler',
      '--steps',
      '2',
      '--memorization',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const m = (r.json as { memorization: Record<string, unknown> }).memorization;
    type Summary = { min: number; p5: number; median: number };
    const samples = m.samples as Summary;
    const heldout = m.heldout as Summary;
    expect(m.train as number).toBeGreaterThan(40);
    for (const s of [samples, heldout]) {
      expect(s.min).toBeGreaterThanOrEqual(0);
      expect(s.min).toBeLessThanOrEqual(s.p5);
      expect(s.p5).toBeLessThanOrEqual(s.median);
    }
    // Four training steps make noise, not copies: far from every training image.
    expect(m.memorized).toBe(false);
    expect(samples.median).toBeGreaterThan(heldout.median);
    // The whole held-out split (1,000 images), not the 40 FD reads: two sets of 500.
    expect(m.sets).toMatchObject({ size: 500, heldoutSets: 2 });
    // Noise stands out from no training image: no sample below every held-out image's ratio.
    expect(m.copies).toMatchObject({ neighbours: 50, count: 0, p: 1 });
    const table = anneal([
      'eval',
      ...quick,
      '--sampler',
      'euler',
      '--steps',
      '2',
      '--memorization',
    ]);
    expect(table.stdout).toMatch(/nearest training image/);
    expect(table.stdout).toMatch(
      /nearest image of each of 2 held-out and \d+ training sets of 500/,
    );
    expect(table.stdout).toMatch(/over the mean of the next 50/);
    expect(table.stdout).toMatch(/0 samples below every held-out image/);
    expect(table.stdout).toMatch(/no sign of memorization/);
  });

  it('anneal bench --only to-target reads FD on the same ruler as anneal eval', () => {
    const evalRun = anneal(['eval', ...quick, '--sampler', 'euler', '--steps', '3', '--json']);
    expect(evalRun.status, evalRun.stderr).toBe(0);
    const out = mkdtempSync(join(tmpdir(), 'anneal-to-target-'));
    const r = anneal([
      'bench',
      '--only',
      'to-target',
      ...quick,
      '--reference',
      'euler:3',
      '--factor',
      '1',
      '--ladder',
      '1,2,3',
      '--samplers',
      'euler,heun',
      '--results',
      out,
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    type ToTarget = {
      n: number;
      reference: { fd: number; nfe_per_image: number };
      target_fd: number;
      samplers: Array<{ sampler: string; steps: number | null; tried: Array<{ fd: number }> }>;
    };
    const results = r.json?.results as Record<string, { result: ToTarget }> | undefined;
    const t = results?.['to-target']?.result as ToTarget;
    expect(t).toBeDefined();
    expect(t.n).toBe(40);
    // Same model, noise, n and extractor: the reference run is the eval run.
    expect(t.reference.fd).toBe(evalRun.json?.fd);
    expect(t.target_fd).toBe(t.reference.fd);
    const [euler, heun] = t.samplers;
    // Euler at 3 steps is the reference itself, so it meets a target of 1 x its FD.
    expect(euler?.steps).not.toBeNull();
    expect(euler?.steps).toBeLessThanOrEqual(3);
    expect(euler?.tried.at(-1)?.fd).toBeLessThanOrEqual(t.target_fd);
    expect(heun?.tried.length).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'RESULTS.md'), 'utf8')).toMatch(
      /NFE and wall time to reach a stated FD[\s\S]*!\[FD against NFE.*\]\(to-target\.svg\)/,
    );
    // The figure beside it: one line per sampler that climbed, and the target.
    const svg = readFileSync(join(out, 'to-target.svg'), 'utf8');
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toMatch(/target FD/);
  });

  // Fourteen sampling runs (13 rows and the reference): longer than one eval.
  it('anneal bench --only teacher-samplers measures every row on the same ruler as anneal eval', () => {
    const evalRun = anneal(['eval', ...quick, '--sampler', 'ddim', '--steps', '5', '--json']);
    expect(evalRun.status, evalRun.stderr).toBe(0);
    const out = mkdtempSync(join(tmpdir(), 'anneal-teacher-samplers-'));
    const grid = join(out, 'grid.png');
    const r = anneal([
      'bench',
      '--only',
      'teacher-samplers',
      ...quick,
      '--reference',
      'heun:3',
      '--reference-n',
      '30',
      '--spread',
      '3',
      '--grid',
      grid,
      '--results',
      out,
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    type Row = {
      sampler: string;
      steps: number;
      nfe_per_image: number;
      fd: number;
      accuracy: number;
    };
    type Table = {
      n: number;
      rows: Row[];
      floor: { fd: number; accuracy: number };
      reference: Row & { n: number };
      grid: { samplers: string[]; nfe: number };
    };
    const results = r.json?.results as Record<string, { result: Table }> | undefined;
    const t = results?.['teacher-samplers']?.result as Table;
    expect(t.n).toBe(40);
    expect(t.rows.map((x) => `${x.sampler}:${x.nfe_per_image}`)).toEqual([
      'ddim:5',
      'ddim:10',
      'ddim:20',
      'dpmpp-2m:5',
      'dpmpp-2m:10',
      'dpmpp-2m:20',
      'ddpm:5',
      'ddpm:10',
      'ddpm:20',
      'euler:10',
      'euler:20',
      'heun:9',
      'heun:19',
    ]);
    // The same model, seed, n and extractor: the ddim 5-step row is the eval run.
    expect(t.rows[0]?.fd).toBe(evalRun.json?.fd);
    expect(t.rows[0]?.accuracy).toBe(evalRun.json?.accuracy);
    expect(t.floor.fd).toBe(evalRun.json?.floor_fd);
    expect(t.reference).toMatchObject({ sampler: 'heun', steps: 3, nfe_per_image: 5, n: 30 });
    // Heun's 10-NFE row runs 5 steps (9 NFE): every sampler has a row in the grid.
    expect(t.grid).toMatchObject({
      nfe: 10,
      samplers: ['ddim', 'dpmpp-2m', 'ddpm', 'euler', 'heun'],
    });
    // Five rows of 16 tiles (8 px, 1 px gaps): 143 x 44 pixels.
    const png = readFileSync(grid);
    expect(png.readUInt32BE(16)).toBe(16 * 9 - 1);
    expect(png.readUInt32BE(20)).toBe(5 * 9 - 1);
    // Each deterministic row against DDPM at its nominal NFE, paired, with the difference's
    // interval; the difference is the two rows' FDs apart.
    type Comparison = {
      nfe: number;
      a: { sampler: string; fd: number };
      b: { sampler: string; fd: number };
      difference: number;
      low: number;
      high: number;
      better: string;
    };
    const comparisons = (t as Table & { comparisons: Comparison[] }).comparisons;
    expect(comparisons.map((c) => `${c.a.sampler}-${c.b.sampler}@${c.nfe}`)).toEqual([
      'ddim-ddpm@5',
      'dpmpp-2m-ddpm@5',
      'ddim-ddpm@10',
      'dpmpp-2m-ddpm@10',
      'euler-ddpm@10',
      'heun-ddpm@10',
      'ddim-ddpm@20',
      'dpmpp-2m-ddpm@20',
      'euler-ddpm@20',
      'heun-ddpm@20',
    ]);
    for (const c of comparisons) {
      expect(c.difference).toBeCloseTo(c.a.fd - c.b.fd, 9);
      expect(c.low).toBeLessThanOrEqual(c.high);
      expect(c.better).toBe(c.high < 0 ? 'a' : c.low > 0 ? 'b' : 'neither');
    }
    for (const row of [...t.rows, t.floor] as Array<{ fd_std?: number }>)
      expect(row.fd_std).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'RESULTS.md'), 'utf8')).toMatch(
      /Samplers on the reference teacher[\s\S]*--n 40 --spread 3 --reference heun:3[\s\S]*\| heun \| 5 \| 9 \| [0-9.]+ ± [0-9.]+ \|[\s\S]*real vs real \(floor\)[\s\S]*Deterministic solvers against ancestral DDPM[\s\S]*\| 20 \| heun \(10\) \|[\s\S]*Reference: heun at 3 steps, n = 30/,
    );
  }, 300_000);

  it('anneal bench --only to-target without --model exits 2', () => {
    const r = anneal(['bench', '--only', 'to-target']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/to-target needs --model/);
  });
});
