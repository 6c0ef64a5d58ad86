// A hardware-aware U-Net search, phase by phase (issue 19): count every candidate's work,
// measure a spread sample and the teacher on this device, fit the cost predictor, prune by
// the latency limit, measure the pool for real, then successive halving on the quality proxy.
// The state is written after every candidate, so any phase resumes where it stopped.
import { join } from 'node:path';
import { type HardwareProfile, Model } from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';
import { COST_TARGETS, costFeatures, measureCandidate } from './cost.ts';
import { type FittedCost, fitCost, predictCost } from './predictor.ts';
import { proxyScore, teacherImages, trainRung } from './proxy.ts';
import { halvingRungs, paretoFront, spreadPool, survivors } from './select.ts';
import { type Candidate, candidateName, enumerateCandidates } from './space.ts';
import {
  type CandidateState,
  latencyLimit,
  type SearchSettings,
  type SearchState,
  writeSearchState,
} from './state.ts';

export interface SearchProgress {
  /** A phase's progress: `done` of `total` (candidates, or a rung's iterations). */
  update(phase: string, done: number, total: number): void;
  /** One line worth keeping in the log (a measured candidate, a rung's scores). */
  note(line: string): void;
}

export interface SearchRun {
  teacher: Model;
  dataset: LocalDataset;
  out: string;
  hardware: HardwareProfile;
  progress: SearchProgress;
  /** Checked between candidates and training steps: stop at the next consistent point. */
  stopRequested: () => boolean;
  home?: string;
}

/** The state of a new search: every candidate of the space with the work the engine counts. */
export function newSearchState(
  teacher: Model,
  teacherDir: string,
  teacherWeights: string,
  profile: string,
  hardware: HardwareProfile,
  settings: SearchSettings,
  progress: SearchProgress,
): SearchState {
  const candidates = enumerateCandidates(teacher.config.unet, settings.space);
  const teacherName = candidateName(teacher.config.unet);
  if (!candidates.some((c) => c.name === teacherName))
    candidates.push({ name: teacherName, unet: teacher.config.unet });
  const states: CandidateState[] = candidates.map((c, i) => {
    progress.update('counting', i, candidates.length);
    const m = Model.create({ ...teacher.config, unet: c.unet }, 0);
    try {
      return { name: c.name, unet: c.unet, features: costFeatures(m), pool: false, rungs: [] };
    } finally {
      m.dispose();
    }
  });
  progress.update('counting', candidates.length, candidates.length);
  return {
    version: 1,
    teacher: { dir: teacherDir, weights: teacherWeights, name: teacherName },
    profile,
    hardware,
    settings,
    phase: 'measuring',
    candidates: states,
    seconds: { measure: 0, proxy: 0 },
    startedAt: new Date().toISOString(),
  };
}

/** `k` candidates spread evenly over forward FLOPs, smallest to largest (the predictor's sample). */
export function fitSample(candidates: CandidateState[], k: number): CandidateState[] {
  const sorted = [...candidates].sort(
    (a, b) => a.features.forwardFlopsPerImage - b.features.forwardFlopsPerImage,
  );
  if (sorted.length <= k) return sorted;
  const picked = new Set<number>();
  for (let i = 0; i < k; i++) picked.add(Math.round((i * (sorted.length - 1)) / (k - 1)));
  return [...picked].map((i) => sorted[i] as CandidateState);
}

/** Runs (or resumes) the search until it is done or a stop is requested; returns the state. */
export async function runSearch(run: SearchRun, state: SearchState): Promise<SearchState> {
  const save = () => writeSearchState(run.out, state);
  const s = state.settings;
  const teacher = state.candidates.find((c) => c.name === state.teacher.name) as CandidateState;

  const measure = async (c: CandidateState) => {
    if (c.measured) return;
    const t0 = performance.now();
    const m = Model.create({ ...run.teacher.config, unet: c.unet }, 0);
    try {
      c.measured = await measureCandidate(m, {
        hardware: run.hardware,
        throughputBatch: s.throughputBatch,
        trainBatch: s.trainBatch,
        home: run.home,
      });
    } finally {
      m.dispose();
    }
    state.seconds.measure += (performance.now() - t0) / 1000;
    run.progress.note(
      `measured ${c.name}: ${c.measured.latencyMs.toFixed(2)} ms/step at batch 1, ${c.measured.throughputMsPerImage.toFixed(2)} ms/image-step at ${s.throughputBatch}, train ${c.measured.trainStepMs.toFixed(0)} ms, peak ${(c.measured.trainPeakBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    save();
  };

  if (state.phase === 'measuring') {
    // 1. The teacher and a sample spread over FLOPs, measured; 2. the predictor fitted on them.
    const sample = [
      teacher,
      ...fitSample(state.candidates, s.fitSample).filter((c) => c !== teacher),
    ];
    for (const [i, c] of sample.entries()) {
      if (run.stopRequested()) return state;
      run.progress.update('measuring the fit sample', i, sample.length);
      await measure(c);
    }
    run.progress.update('measuring the fit sample', sample.length, sample.length);
    const fits = fitPredictors(state.candidates.filter((c) => c.measured));
    state.fits = fits;
    for (const c of state.candidates)
      c.predicted = Object.fromEntries(
        COST_TARGETS.map((t) => [t, predictCost(fits[t] as FittedCost, c.features)]),
      ) as CandidateState['predicted'];
    const limit = latencyLimit(state);
    // 3. The pool: predicted within the limit, spread from the largest down; measured for real.
    if (!state.candidates.some((c) => c.pool)) {
      const eligible = state.candidates.filter(
        (c) => c !== teacher && (c.predicted?.latencyMs ?? Number.POSITIVE_INFINITY) <= limit,
      );
      for (const c of spreadPool(eligible, s.pool, (x) => x.features.parameters)) c.pool = true;
      save();
    }
    const pool = state.candidates.filter((c) => c.pool);
    for (const [i, c] of pool.entries()) {
      if (run.stopRequested()) return state;
      run.progress.update('measuring the pool', i, pool.length);
      await measure(c);
      if ((c.measured?.latencyMs ?? 0) > limit) {
        c.dropped = `measured ${c.measured?.latencyMs.toFixed(2)} ms/step, over the limit of ${limit.toFixed(2)}`;
        save();
      }
    }
    run.progress.update('measuring the pool', pool.length, pool.length);
    state.phase = 'halving';
    save();
  }

  if (state.phase === 'halving') {
    const pool = state.candidates.filter((c) => c.pool);
    // The rungs follow from the pool as it entered halving (those within the limit when measured).
    const rungs = halvingRungs(
      pool.filter((c) => !c.dropped?.startsWith('measured')).length,
      s.firstIters,
      s.eta,
      s.rungs,
    );
    const maxIters = rungs[rungs.length - 1]?.iters ?? s.firstIters;
    const reference = await teacherImages(run.teacher, s.proxy);
    for (const [r, rung] of rungs.entries()) {
      const alive = pool.filter((c) => !c.dropped);
      for (const [i, c] of alive.entries()) {
        if (c.rungs[r]) continue;
        if (run.stopRequested()) return state;
        const t0 = performance.now();
        const label = `rung ${r + 1}/${rungs.length}: ${c.name} (${i + 1}/${alive.length})`;
        const { model, step } = await trainRung({
          teacher: run.teacher,
          candidate: c as Candidate,
          dataset: run.dataset,
          dir: join(run.out, 'candidates', c.name),
          iters: rung.iters,
          maxIters,
          settings: s.proxy,
          onStep: (st) => run.progress.update(label, st, rung.iters),
          stopRequested: run.stopRequested,
        });
        state.seconds.proxy += (performance.now() - t0) / 1000;
        if (!model) {
          save();
          return state;
        }
        try {
          const proxy = await proxyScore(model, reference, s.proxy);
          c.rungs[r] = { iters: step, proxy, trainSeconds: (performance.now() - t0) / 1000 };
        } finally {
          model.dispose();
        }
        run.progress.note(
          `${label}: proxy ${c.rungs[r]?.proxy.toExponential(3)} after ${step} iterations`,
        );
        save();
      }
      const kept = new Set(
        survivors(
          alive.map((c) => ({ c, score: c.rungs[r]?.proxy ?? Number.NaN })),
          rung.keep,
        ),
      );
      for (const c of alive)
        if (!kept.has(c))
          c.dropped = `halved out after rung ${r + 1} (proxy ${c.rungs[r]?.proxy.toExponential(3)})`;
      save();
    }
    state.phase = 'done';
    state.finishedAt = new Date().toISOString();
    save();
  }
  return state;
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

/**
 * The Pareto front of the candidates that finished the last rung, with the teacher:
 * (proxy, latency at batch 1, training peak memory), all minimized. The teacher's proxy is 0.
 */
export function searchFront(state: SearchState): CandidateState[] {
  const last = Math.max(0, ...state.candidates.map((c) => c.rungs.length)) - 1;
  const finished = state.candidates.filter(
    (c) => c.rungs.length - 1 === last && last >= 0 && !c.dropped,
  );
  const teacher = state.candidates.find((c) => c.name === state.teacher.name);
  const points = teacher?.measured ? [teacher, ...finished] : finished;
  const proxy = (c: CandidateState) =>
    c === teacher ? 0 : (c.rungs[last]?.proxy ?? Number.POSITIVE_INFINITY);
  return paretoFront(points, [
    proxy,
    (c) => c.measured?.latencyMs ?? Number.POSITIVE_INFINITY,
    (c) => c.measured?.trainPeakBytes ?? Number.POSITIVE_INFINITY,
  ]);
}
