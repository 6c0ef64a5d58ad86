// The measuring phase of a search (issue 19 section 2): the teacher and a sample spread over
// FLOPs measured on this device, the cost predictor fitted on them once, the pool chosen within
// the latency limit on its predictions and measured for real (refilled where a member measures
// over the limit), and the teacher measured once more to tell whether the machine drifted.
import { Model } from '@anneal/engine';
import { COST_TARGETS, measureCandidate } from './cost.ts';
import { type FittedCost, fitCost, predictCost } from './predictor.ts';
import { studentConfig } from './proxy.ts';
import type { SearchContext } from './run.ts';
import { evenlySpread, spreadPool } from './select.ts';
import { type CandidateState, latencyLimit, measureDriftWarning, objectiveMs } from './state.ts';

/** Measures, fits and pools; false when a stop was requested (the state says how far it got). */
export async function measuringPhase(ctx: SearchContext): Promise<boolean> {
  const { run, state, save, enter } = ctx;
  const s = state.settings;
  const teacher = state.candidates.find((c) => c.name === state.teacher.name) as CandidateState;

  const measureCost = async (c: CandidateState, refresh = false) => {
    const t0 = performance.now();
    const m = Model.create(studentConfig(run.teacher.config, c), 0);
    try {
      return await (run.measure ?? measureCandidate)(m, {
        hardware: run.hardware,
        throughputBatch: s.throughputBatch,
        trainBatch: s.trainBatch,
        home: run.home,
        refresh,
      });
    } finally {
      m.dispose();
      state.seconds.measure += (performance.now() - t0) / 1000;
    }
  };
  const measure = async (c: CandidateState) => {
    if (c.measured) return;
    c.measured = await measureCost(c);
    run.progress.note(
      `measured ${c.name}: ${c.measured.latencyMs.toFixed(2)} ms/step at batch 1, ${c.measured.throughputMsPerImage.toFixed(2)} ms/image-step at ${s.throughputBatch}, train ${c.measured.trainStepMs.toFixed(0)} ms, peak ${(c.measured.trainPeakBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    save();
  };

  // 1. The teacher and a sample spread over FLOPs, measured; 2. the predictor fitted on them.
  // The sample is taken from the rest: the teacher is often the most FLOPs, and counted in it
  // would leave one candidate fewer than --fit-sample besides the teacher.
  const sample = [
    teacher,
    ...fitSample(
      state.candidates.filter((c) => c !== teacher),
      s.fitSample,
    ),
  ];
  for (const [i, c] of sample.entries()) {
    if (run.stopRequested()) return false;
    run.progress.update('measuring the fit sample', i, sample.length);
    await measure(c);
  }
  run.progress.update('measuring the fit sample', sample.length, sample.length);
  // Fitted once: the pool is chosen on these predictions, and measuring the pool must not
  // move them (the pool's measurements then say how far off they were, out of sample).
  if (!state.fits) {
    const fits = fitPredictors(state.candidates.filter((c) => c.measured));
    state.fits = fits;
    for (const c of state.candidates)
      c.predicted = Object.fromEntries(
        COST_TARGETS.map((t) => [t, predictCost(fits[t] as FittedCost, c.features)]),
      ) as CandidateState['predicted'];
    save();
  }
  const limit = latencyLimit(state);
  // 3. The pool: predicted within the limit, spread from the largest down, measured for real;
  // a member measured over the limit is dropped and the pool refilled from the rest of the
  // eligible, until it holds `pool` members within the limit or none are left to try.
  const eligible = state.candidates.filter(
    (c) =>
      c !== teacher &&
      (c.predicted ? objectiveMs(s, c.predicted) : Number.POSITIVE_INFINITY) <= limit,
  );
  for (;;) {
    const pool = state.candidates.filter((c) => c.pool && !c.dropped);
    for (const [i, c] of pool.entries()) {
      if (run.stopRequested()) return false;
      run.progress.update('measuring the pool', i, pool.length);
      await measure(c);
      const ms = c.measured ? objectiveMs(s, c.measured) : 0;
      if (ms > limit) {
        c.dropped = `measured ${ms.toFixed(2)} ms/${s.objective === 'latency' ? 'step' : 'image-step'}, over the limit of ${limit.toFixed(2)}`;
        save();
      }
    }
    const within = pool.filter((c) => !c.dropped).length;
    const untried = eligible.filter((c) => !c.pool);
    if (within >= s.pool || untried.length === 0) break;
    for (const c of spreadPool(untried, s.pool - within, (x) => x.features.parameters))
      c.pool = true;
    save();
  }
  // 4. The teacher once more, past the cache: a machine whose speed changed while measuring
  // (another process, thermal limits) moved every cost in between, and the limit with them.
  if (!state.remeasured && teacher.measured) {
    if (run.stopRequested()) return false;
    const again = await measureCost(teacher, true);
    state.remeasured = {
      latencyMs: again.latencyMs,
      throughputMsPerImage: again.throughputMsPerImage,
      drift: objectiveMs(s, again) / objectiveMs(s, teacher.measured) - 1,
    };
    const warning = measureDriftWarning(state);
    if (warning) run.progress.note(warning);
    save();
  }
  enter('halving');
  return true;
}

/** `k` candidates spread evenly over forward FLOPs, smallest to largest (the predictor's sample). */
export function fitSample(candidates: CandidateState[], k: number): CandidateState[] {
  const sorted = [...candidates].sort(
    (a, b) => a.features.forwardFlopsPerImage - b.features.forwardFlopsPerImage,
  );
  return evenlySpread(sorted, k);
}

/** One non-negative cost fit per measured quantity. */
export function fitPredictors(measured: CandidateState[]): Record<string, FittedCost> {
  return Object.fromEntries(
    COST_TARGETS.map((t) => [
      t,
      fitCost(measured.map((c) => ({ features: c.features, value: c.measured?.[t] as number }))),
    ]),
  );
}
