// The measuring phase of a search (issue 19 section 2) on injected costs, so its decisions
// are exact: the teacher and a FLOPs-spread sample measured, the predictor fitted once on
// them, the pool spread within the limit, a member measured over the limit dropped and the
// pool refilled from the rest, a resumed phase measuring nothing twice.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model, presetUNet, probeHardware } from '@anneal/engine';
import { type FeatureMatrix, frechetDistance, seededRandom } from '@anneal/engine/metrics';
import { describe, expect, it } from 'vitest';
import type { LocalDataset } from '../dataset.ts';
import {
  correlationPicks,
  correlationSpread,
  featuresPathOf,
  proxyCorrelation,
  spreadStale,
} from './correlation.ts';
import type { MeasuredCost } from './cost.ts';
import { readFeatures, readRealSet, writeFeatures, writeRealSet } from './features.ts';
import { costModelLine, searchTable } from './report.ts';
import { newSearchState, runSearch, type SearchRun } from './run.ts';
import {
  fixed,
  measureDriftWarning,
  readSearchState,
  type SearchState,
  searchFront,
  searchSettingsSchema,
} from './state.ts';

const teacher = Model.create(
  {
    unet: {
      ...presetUNet('tiny', { resolution: 8, channels: 3, numClasses: 5 }),
      block_out_channels: [16, 32],
    },
    parameterization: 'v',
  },
  1,
);

const settings = searchSettingsSchema.parse({
  space: {
    widthScales: [0.5, 0.75, 1],
    levelsDropped: [0],
    attention: ['teacher'],
    midAttention: [true, false],
    attentionKinds: ['softmax'],
  },
  fitSample: 4,
  latencyMs: 10,
  speedup: 1.5,
  pool: 3,
  throughputBatch: 2,
  trainBatch: 2,
  proxy: {
    sampler: 'ddim',
    steps: 2,
    n: 2,
    batch: 2,
    lr: 1e-3,
    emaDecay: 0.9,
    outputWeight: 1,
    inherit: 'narrowed',
    seed: 0,
    checkpointEvery: 10,
  },
  firstIters: 2,
  eta: 2,
  rungs: 1,
});

const silent = { update() {}, note() {} };

/**
 * Costs linear in FLOPs (so the fit is exact), except that `slow` candidates measure 3x
 * what the line says: the predictor's miss the pool must recover from.
 */
function costs(slow: Set<string>, seen: string[]) {
  return async (model: Model): Promise<MeasuredCost> => {
    const name =
      JSON.stringify(model.config.unet.block_out_channels) + model.config.unet.add_attention;
    seen.push(name);
    const flops = model.cost().forwardFlopsPerImage;
    const ms = (1 + flops / 2e6) * (slow.has(name) ? 3 : 1);
    return {
      latencyMs: ms,
      throughputMsPerImage: ms / 2,
      throughputBatch: 2,
      samplePeakBytes: 1e6,
      trainStepMs: 10 * ms,
      trainBatch: 2,
      trainPeakBytes: 1e6 + flops,
    };
  };
}

/** A run of `state` into a fresh folder that stops as soon as halving would begin: measuring only. */
function measuringRun(
  state: SearchState,
  measure: SearchRun['measure'],
  progress: SearchRun['progress'] = silent,
): SearchRun {
  return {
    teacher,
    dataset: { train: [], heldout: [] } as unknown as LocalDataset,
    out: mkdtempSync(join(tmpdir(), 'anneal-search-run-')),
    hardware: probeHardware(),
    progress,
    stopRequested: () => state.phase !== 'measuring',
    measure,
  };
}

const keyOf = (c: SearchState['candidates'][number]) =>
  JSON.stringify(c.unet.block_out_channels) + c.unet.add_attention;

describe('the measuring phase', () => {
  it('fits once, pools within the limit, drops a member measured over it and refills the pool', async () => {
    const state = newSearchState(teacher, '/teacher', 'w', 'p', probeHardware(), settings, silent);
    // 3 x 3 widths less the shrinking ones (6), with and without mid attention: 12.
    expect(state.candidates).toHaveLength(12);
    const line = (c: SearchState['candidates'][number]) =>
      1 + c.features.forwardFlopsPerImage / 2e6;
    const eligibleByLine = state.candidates
      .filter((c) => c.name !== state.teacher.name && line(c) <= 10)
      .sort((a, b) => b.features.parameters - a.features.parameters);
    expect(eligibleByLine.length).toBeGreaterThan(3);
    // The largest eligible candidate (the first the pool takes) is slow when measured.
    const slowOne = eligibleByLine[0];
    const slow = new Set([keyOf(slowOne as never)]);
    const seen: string[] = [];
    const run = measuringRun(state, costs(slow, seen));
    const after = await runSearch(run, state);
    expect(after.phase).toBe('halving');
    // The fit sample's costs were exact lines, except where a slow one fell in it.
    const fit = after.fits?.latencyMs;
    expect(fit?.coefficients.every((c) => c >= 0)).toBe(true);
    // Fitted on the teacher and --fit-sample others, though the teacher has the most FLOPs.
    const mostFlops = [...state.candidates].sort(
      (a, b) => b.features.forwardFlopsPerImage - a.features.forwardFlopsPerImage,
    )[0];
    expect(mostFlops?.name).toBe(state.teacher.name);
    expect(fit?.looError.n).toBe(settings.fitSample + 1);
    // Predictions for every candidate; the pool holds 3 within the limit, measured.
    expect(after.candidates.every((c) => c.predicted)).toBe(true);
    const pool = after.candidates.filter((c) => c.pool);
    const within = pool.filter((c) => !c.dropped);
    expect(within).toHaveLength(3);
    for (const c of within) expect(c.measured?.latencyMs).toBeLessThanOrEqual(10);
    // The slow one was taken, measured over the limit, dropped, and replaced.
    const dropped = after.candidates.find((c) => c.name === slowOne?.name);
    expect(dropped?.pool).toBe(true);
    expect(dropped?.dropped).toMatch(/^measured .* over the limit of 10\.00$/);
    expect(pool).toHaveLength(4);
    // The teacher is measured (it sets no limit here, but is the reference) and never pooled.
    const t = after.candidates.find((c) => c.name === after.teacher.name);
    expect(t?.measured).toBeDefined();
    expect(t?.pool).toBe(false);
    // Each candidate measured once, and the teacher again at the end; the same speed, no warning.
    const teacherKey = keyOf(t as never);
    expect(seen.filter((k) => k === teacherKey)).toHaveLength(2);
    expect(seen.at(-1)).toBe(teacherKey);
    expect(new Set(seen).size).toBe(seen.length - 1);
    expect(after.remeasured?.drift).toBe(0);
    expect(measureDriftWarning(after)).toBeNull();
    // The CPU time went to the measuring phase, counted from the start.
    expect(after.cpuSeconds).toMatchObject({
      fromStart: true,
      halving: 0,
      training: 0,
      correlating: 0,
    });
    expect(after.cpuSeconds?.measuring).toBeGreaterThan(0);

    // Resumed (from the saved file's view), the phase measures nothing again.
    const again: string[] = [];
    const resumed = structuredClone(after);
    resumed.phase = 'measuring';
    // A state written before CPU time was counted says its sums miss the start.
    Reflect.deleteProperty(resumed, 'cpuSeconds');
    await runSearch(
      { ...run, stopRequested: () => resumed.phase !== 'measuring', measure: costs(slow, again) },
      resumed,
    );
    expect(again).toEqual([]);
    expect(resumed.fits).toEqual(after.fits);
    expect(resumed.cpuSeconds?.fromStart).toBe(false);
  });

  it('reads a throughput search in its objective: the limit, the speedups, the cost model', async () => {
    const batched = { ...settings, objective: 'throughput' as const, latencyMs: 3 };
    const state = newSearchState(teacher, '/teacher', 'w', 'p', probeHardware(), batched, silent);
    const exact = costs(new Set(), []);
    // Batching hides all but a tenth of the work: every candidate is within 3 ms an image,
    // and each is as fast as the teacher over a tenth of its FLOPs.
    const measure = async (model: Model) => {
      const c = await exact(model);
      return { ...c, throughputMsPerImage: 2 + (c.latencyMs - 1) / 10 };
    };
    const after = await runSearch(measuringRun(state, measure), state);
    const pool = after.candidates.filter((c) => c.pool);
    expect(pool.filter((c) => c.dropped)).toEqual([]);
    // Some of the pool are over 3 ms per step at batch 1: the limit was the objective's.
    expect(pool.some((c) => (c.measured?.latencyMs ?? 0) > 3)).toBe(true);
    const t = after.candidates.find((c) => c.name === after.teacher.name)?.measured;
    const table = searchTable(after).split('\n');
    expect(table[0]).toMatch(/ms\/step\s+ms\/img-step\s+speedup \(throughput\)/);
    for (const c of pool) {
      const row = table.find((r) => r.startsWith(`${c.name} `));
      const x = ((t?.throughputMsPerImage ?? 0) / (c.measured?.throughputMsPerImage ?? 1)).toFixed(
        2,
      );
      expect(row).toContain(` ${x}x `);
    }
    expect(costModelLine(after)).toMatch(
      /^cost model \(ms per image-step at batch 2\): leave-one-out error median [0-9.]+%, max [0-9.]+% over [0-9]+ measured candidates$/,
    );
    expect(costModelLine({ ...after, settings })).toMatch(/^cost model \(ms per step at batch 1\)/);
  });

  it('warns when the teacher measures differently at the end: the machine got busier', async () => {
    const state = newSearchState(teacher, '/teacher', 'w', 'p', probeHardware(), settings, silent);
    const notes: string[] = [];
    const exact = costs(new Set(), []);
    let measured = 0;
    const refreshed: boolean[] = [];
    // Everything after the fit sample takes 1.5x: another process started while measuring.
    const run = measuringRun(
      state,
      async (model, o) => {
        refreshed.push(o.refresh === true);
        const c = await exact(model);
        measured += 1;
        const k = measured > settings.fitSample + 1 ? 1.5 : 1;
        return {
          ...c,
          latencyMs: k * c.latencyMs,
          throughputMsPerImage: k * c.throughputMsPerImage,
        };
      },
      { update() {}, note: (l) => notes.push(l) },
    );
    const after = await runSearch(run, state);
    expect(after.remeasured?.drift).toBeCloseTo(0.5, 12);
    // Only the teacher's second measurement goes past the cache (and replaces it there).
    expect(refreshed.at(-1)).toBe(true);
    expect(refreshed.slice(0, -1).every((r) => !r)).toBe(true);
    const warning = measureDriftWarning(after);
    expect(warning).toMatch(
      /^warning: the teacher measured [0-9.]+ ms\/step first and [0-9.]+ once the pool was \(\+50%\): this machine's speed changed/,
    );
    expect(notes).toContain(warning);
    // Read back from search.json, the warning stays.
    expect(measureDriftWarning(readSearchState(run.out))).toBe(warning);
  });
});

describe('the front', () => {
  it('leaves out a student whose proxy is not finite, which no other would dominate', () => {
    const state = newSearchState(teacher, '/teacher', 'w', 'p', probeHardware(), settings, silent);
    const cost = (ms: number) => ({
      latencyMs: ms,
      throughputMsPerImage: ms,
      throughputBatch: 2,
      samplePeakBytes: 1,
      trainStepMs: 1,
      trainBatch: 2,
      trainPeakBytes: 1,
    });
    const t = state.candidates.find((c) => c.name === state.teacher.name);
    if (t) t.measured = cost(10);
    const [fast, mid, slow] = state.candidates.filter((c) => c !== t);
    if (!fast || !mid || !slow) throw new Error('the space has fewer than 3 students');
    for (const [c, ms, proxy] of [
      [fast, 1, Number.NaN],
      [mid, 2, 0.2],
      [slow, 3, 0.1],
    ] as const) {
      c.pool = true;
      c.measured = cost(ms);
      c.rungs = [{ iters: 2, proxy, trainSeconds: 1 }];
    }
    expect(searchFront(state).map((c) => c.name)).toEqual([t?.name, mid.name, slow.name]);
    // Infinite, it would be on the front for its speed alone.
    (fast.rungs[0] as { proxy: number }).proxy = Number.POSITIVE_INFINITY;
    expect(searchFront(state).map((c) => c.name)).not.toContain(fast.name);
    // Printed for people as not available, not as NaN.
    expect([fixed(Number.NaN), fixed(Number.POSITIVE_INFINITY), fixed(null), fixed(0.25)]).toEqual([
      'n/a',
      'n/a',
      'n/a',
      '0.250',
    ]);
  });
});

describe("the proxy's correlation", () => {
  /** A search whose pool of 7 finished the first rung, proxy i / 10 for the i-th. */
  function halved() {
    const state = newSearchState(teacher, '/teacher', 'w', 'p', probeHardware(), settings, silent);
    const pool = state.candidates.filter((c) => c.name !== state.teacher.name).slice(0, 7);
    for (const [i, c] of pool.entries()) {
      c.pool = true;
      c.rungs = [{ iters: 2, proxy: (i + 1) / 10, trainSeconds: 1 }];
    }
    return { state, pool };
  }
  const evaluated = (fd: number, proxy: number) => ({
    iters: 20,
    proxy,
    trainSeconds: 1,
    eval: {
      n: 10,
      fd,
      floor: 0.1,
      kid: null,
      precision: null,
      recall: null,
      classAccuracy: null,
    },
  });

  it('picks the rest spread over the first rung ranks, counting those already evaluated', () => {
    const { state, pool } = halved();
    expect(correlationPicks(state)).toEqual([]);
    // The best is a winner, already evaluated: 4 wanted, 3 to go, spread over the other 6.
    (pool[0] as (typeof pool)[number]).full = evaluated(1, 0.01);
    state.settings.correlate = 4;
    expect(correlationPicks(state).map((c) => pool.indexOf(c))).toEqual([1, 4, 6]);
    // Resumed after the first of them was evaluated: the same two remain (a spread taken
    // afresh over what is left would move them).
    (pool[1] as (typeof pool)[number]).full = evaluated(2, 0.02);
    expect(correlationPicks(state).map((c) => pool.indexOf(c))).toEqual([4, 6]);
    // More than the pool holds: all of it.
    state.settings.correlate = 20;
    expect(correlationPicks(state).map((c) => pool.indexOf(c))).toEqual([2, 3, 4, 5, 6]);
    // A member that never reached a rung (over the limit when measured) is not ranked, nor is
    // one whose proxy diverged (NaN).
    (pool[6] as (typeof pool)[number]).rungs = [];
    (pool[5] as (typeof pool)[number]).rungs = [{ iters: 2, proxy: Number.NaN, trainSeconds: 1 }];
    expect(correlationPicks(state).map((c) => pool.indexOf(c))).toEqual([2, 3, 4]);
  });

  it("is Spearman's over the evaluated, of the first rung's proxy and of the full one", () => {
    const { state, pool } = halved();
    expect(proxyCorrelation(state)).toBeNull();
    // FD in the first rung's order except the last two swapped; the full proxy reversed.
    const fds = [1, 2, 3, 5, 4];
    for (const [i, fd] of fds.entries())
      (pool[i] as (typeof pool)[number]).full = evaluated(fd, 10 - i);
    const r = proxyCorrelation(state);
    expect(r?.n).toBe(5);
    // 1 - 6 * (1 + 1) / (5 * 24)
    expect(r?.firstRung).toBeCloseTo(0.9, 12);
    expect(r?.full).toBeCloseTo(-0.9, 12);
    // A diverged proxy after full training leaves the full correlation to the rest.
    (pool[4] as (typeof pool)[number]).full = { ...evaluated(4, 6), proxy: Number.NaN };
    expect(proxyCorrelation(state)).toMatchObject({ n: 5, firstRung: r?.firstRung });
    expect(proxyCorrelation(state)?.full).toBeCloseTo(-1, 12);
    // Fewer than 3 evaluated: none.
    for (const c of pool.slice(2)) c.full = undefined;
    expect(proxyCorrelation(state)).toBeNull();
  });

  it("says how sure it is from the evaluations' features, paired, and only for those evaluated", () => {
    const { state, pool } = halved();
    const out = mkdtempSync(join(tmpdir(), 'anneal-search-spread-'));
    /** Rows of one noise, moved by `shift`: a candidate's samples, paired with the others'. */
    const rows = (shift: number, jitter: number, seed: number): FeatureMatrix => {
      const random = seededRandom(seed);
      const base = seededRandom(99);
      const data = Float64Array.from({ length: 200 * 3 }, () => {
        const g = (r: () => number) =>
          Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
        return g(base) + shift + jitter * g(random);
      });
      return { n: 200, dim: 3, data };
    };
    const real = rows(0, 1, 1);
    writeRealSet(out, real, {});
    expect(readRealSet(out)?.real.n).toBe(200);
    // Five evaluated, FD in the first rung's order and well apart.
    for (const [i, c] of pool.slice(0, 5).entries()) {
      const set = rows(0.2 * (i + 1), 0.05, 10 + i);
      c.full = evaluated(frechetDistance(real, set), 0.1 * (i + 1));
      const path = featuresPathOf(out, c) as string;
      mkdirSync(join(path, '..'), { recursive: true });
      writeFeatures(path, set);
      // Kept as float32: FD moves in the 6th digit at most.
      const back = readFeatures(path) as FeatureMatrix;
      expect(frechetDistance(real, back)).toBeCloseTo(frechetDistance(real, set), 5);
    }
    expect(spreadStale(state)).toBe(true);
    expect(proxyCorrelation(state)?.spread).toBeUndefined();
    const spread = correlationSpread(state, out, 20);
    expect(spread?.names).toEqual(pool.slice(0, 5).map((c) => c.name));
    expect(spread?.firstRung?.low).toBe(1);
    state.correlationSpread = spread ?? undefined;
    expect(spreadStale(state)).toBe(false);
    expect(proxyCorrelation(state)?.spread).toMatchObject({ resamples: 20, firstRung: { low: 1 } });
    // Another candidate evaluated: the spread stood for the others, so it is stale and not shown.
    (pool[5] as (typeof pool)[number]).full = evaluated(1, 1);
    expect(spreadStale(state)).toBe(true);
    expect(proxyCorrelation(state)?.spread).toBeUndefined();
    // Its features were not kept (or are not whole): no spread.
    expect(correlationSpread(state, out, 20)).toBeNull();
    const path = featuresPathOf(out, pool[5] as (typeof pool)[number]) as string;
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, 'not features');
    expect(readFeatures(path)).toBeNull();
    expect(correlationSpread(state, out, 20)).toBeNull();
    rmSync(out, { recursive: true, force: true });
  });
});
