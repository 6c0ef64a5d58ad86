// A hardware-aware U-Net search, phase by phase (issue 19): count every candidate's work,
// measure a spread sample and the teacher on this device, fit the cost predictor, prune by
// the latency limit, measure the pool for real, then successive halving on the quality proxy.
// The state is written after every candidate, so any phase resumes where it stopped.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAnnealHome } from '@anneal/core/home';
import {
  CONFIG_FILE,
  type HardwareProfile,
  MODEL_FILE,
  Model,
  SamplingStopped,
} from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';
import { evaluateModel } from '../quality/evaluate.ts';
import { correlationPicks, proxyCorrelation } from './correlation.ts';
import {
  COST_TARGETS,
  costFeatures,
  type MeasuredCost,
  type MeasureOptions,
  measureCandidate,
} from './cost.ts';
import { continuesInto, fullAnneal, fullIters, sameAnneal } from './full.ts';
import { type FittedCost, fitCost, predictCost } from './predictor.ts';
import { proxyScore, proxyWarmup, studentConfig, teacherImages, trainRung } from './proxy.ts';
import {
  checkpointStep,
  fullPoint,
  furthestConstant,
  keepFinished,
  keepRung,
  proxyStore,
  restoreRung,
  storedRung,
} from './proxy-store.ts';
import { evenlySpread, halvingRungs, paretoFront, spreadPool, survivors } from './select.ts';
import { type Candidate, candidateName, enumerateCandidates } from './space.ts';
import {
  type Anneal,
  type CandidateState,
  fixed,
  latencyLimit,
  measureDriftWarning,
  objectiveMs,
  type SearchEval,
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
  /** The process's CPU usage when the command began (its loading counts too); default: now. */
  cpuSince?: NodeJS.CpuUsage;
  /** What a candidate costs here; the engine's measurement unless a test injects costs. */
  measure?: (model: Model, o: MeasureOptions) => Promise<MeasuredCost>;
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
    const m = Model.create(studentConfig(teacher.config, c), 0);
    try {
      return {
        name: c.name,
        unet: c.unet,
        features: costFeatures(m),
        pool: false,
        winner: false,
        rungs: [],
      };
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
    cpuSeconds: { measuring: 0, halving: 0, training: 0, correlating: 0, fromStart: true },
    startedAt: new Date().toISOString(),
  };
}

/** `k` candidates spread evenly over forward FLOPs, smallest to largest (the predictor's sample). */
export function fitSample(candidates: CandidateState[], k: number): CandidateState[] {
  const sorted = [...candidates].sort(
    (a, b) => a.features.forwardFlopsPerImage - b.features.forwardFlopsPerImage,
  );
  return evenlySpread(sorted, k);
}

/** Runs (or resumes) the search until it is done or a stop is requested; returns the state. */
export async function runSearch(run: SearchRun, state: SearchState): Promise<SearchState> {
  // CPU time is charged to the phase the state is in, at each save and each phase change.
  state.cpuSeconds ??= {
    measuring: 0,
    halving: 0,
    training: 0,
    correlating: 0,
    fromStart: false,
  };
  let cpuMark = run.cpuSince ?? process.cpuUsage();
  const charge = () => {
    const used = process.cpuUsage(cpuMark);
    cpuMark = process.cpuUsage();
    const cpu = state.cpuSeconds as NonNullable<SearchState['cpuSeconds']>;
    if (state.phase !== 'done') cpu[state.phase] += (used.user + used.system) / 1e6;
  };
  const save = () => {
    charge();
    writeSearchState(run.out, state);
  };
  const enter = (phase: SearchState['phase']) => {
    charge();
    state.phase = phase;
    if (phase === 'done') state.finishedAt = new Date().toISOString();
    writeSearchState(run.out, state);
  };
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
        if (run.stopRequested()) return state;
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
      if (run.stopRequested()) return state;
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
  }

  // A finished search resumed with a larger `correlate` goes on to train those candidates.
  if (state.phase === 'done' && correlationPicks(state).length > 0) enter('correlating');
  if (state.phase !== 'measuring' && state.phase !== 'done') {
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
    const store = proxyStore(
      join(run.home ?? resolveAnnealHome(), 'search-proxies'),
      { weights: state.teacher.weights, config: run.teacher.config },
      s.proxy,
      proxyWarmup(maxIters),
    );
    keepFinished(
      store,
      run.out,
      pool.filter((c) => c.rungs.length > 0),
    );
    /**
     * Trains `c` to `iters` and scores it (or reads both where an earlier search of this
     * teacher kept them); null when a stop was requested. `anneal`: a full training's decay.
     */
    const trainAndScore = async (
      c: CandidateState,
      iters: number,
      label: string,
      anneal?: Anneal,
    ) => {
      const dir = join(run.out, 'candidates', c.name);
      // The checkpoint where a decay begins is the last rung's for the winners: kept, so a
      // later change of schedule goes back to it instead of to the teacher's weights.
      const keepDecayStart = () => {
        const last = c.rungs.at(-1);
        if (last?.iters === anneal?.from && last && !storedRung(store, c.name, last.iters))
          keepRung(store, c.name, last.iters, dir, {
            proxy: Number.isFinite(last.proxy) ? last.proxy : null,
            trainSeconds: last.trainSeconds,
          });
      };
      const point = fullPoint(iters, anneal);
      const kept = storedRung(store, c.name, point);
      if (kept) {
        restoreRung(store, c.name, point, dir);
        run.progress.note(`${label}: read from an earlier search of this teacher (${store})`);
        return {
          model: Model.load(dir),
          iters,
          proxy: kept.proxy ?? Number.NaN,
          trainSeconds: kept.trainSeconds,
          reused: true,
        };
      }
      const t0 = performance.now();
      const { model, step } = await trainRung({
        teacher: run.teacher,
        candidate: c as Candidate,
        dataset: run.dataset,
        dir,
        iters,
        maxIters,
        settings: s.proxy,
        anneal,
        atDecayStart: keepDecayStart,
        onStep: (st) => run.progress.update(label, st, iters),
        stopRequested: run.stopRequested,
      });
      const trainSeconds = (performance.now() - t0) / 1000;
      state.seconds.proxy += trainSeconds;
      if (!model) {
        save();
        return null;
      }
      try {
        const proxy = await proxyScore(model, reference, s.proxy);
        keepRung(store, c.name, fullPoint(step, anneal), dir, {
          proxy: Number.isFinite(proxy) ? proxy : null,
          trainSeconds,
        });
        return { model, iters: step, proxy, trainSeconds, reused: false };
      } catch (err) {
        model.dispose();
        throw err;
      }
    };

    if (state.phase === 'halving') {
      for (const [r, rung] of rungs.entries()) {
        const alive = pool.filter((c) => !c.dropped);
        for (const [i, c] of alive.entries()) {
          if (c.rungs[r]) continue;
          if (run.stopRequested()) return state;
          const label = `rung ${r + 1}/${rungs.length}: ${c.name} (${i + 1}/${alive.length})`;
          const scored = await trainAndScore(c, rung.iters, label);
          if (!scored) return state;
          scored.model.dispose();
          c.rungs[r] = {
            iters: scored.iters,
            proxy: scored.proxy,
            trainSeconds: scored.trainSeconds,
            ...(scored.reused ? { reused: true } : {}),
          };
          run.progress.note(
            `${label}: proxy ${scored.proxy.toExponential(3)} after ${scored.iters} iterations`,
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
      // The winners: the front's students, best proxy first.
      const last = rungs.length - 1;
      const front = searchFront(state).filter((c) => c.name !== state.teacher.name);
      front.sort((a, b) => (a.rungs[last]?.proxy ?? 0) - (b.rungs[last]?.proxy ?? 0));
      for (const c of front.slice(0, s.winners)) c.winner = true;
      enter('training');
    }

    // Each winner trained on to fullIters, then its FD beside the teacher's on one ruler.
    const evaluate = async (model: Model): Promise<SearchEval> => {
      const r = await evaluateModel({
        model,
        dataset: run.dataset,
        n: s.evalN,
        sampling: { sampler: s.proxy.sampler, steps: s.proxy.steps },
        seed: 0,
        guidance: 1,
        home: run.home,
        // Every model evaluated here has a folder (the teacher's, a candidate's checkpoint),
        // so its samples are kept a chunk at a time: a stop ends it at the next chunk, and the
        // resume goes on from there.
        resumable: true,
        stopRequested: run.stopRequested,
        extractor: s.extractor,
        onProgress: (phase, done, total) => run.progress.update(phase, done, total),
      });
      return {
        n: r.n,
        fd: r.metrics.fd,
        floor: r.floor.fd,
        kid: r.metrics.kid,
        precision: r.metrics.precision,
        recall: r.metrics.recall,
        classAccuracy: r.accuracy?.samples ?? null,
      };
    };
    /** Trains `c` on to fullIters and evaluates it; false when a stop was requested. */
    const trainFully = async (c: CandidateState, label: string, publish: boolean) => {
      try {
        return await trainAndEvaluate(c, label, publish);
      } catch (err) {
        if (err instanceof SamplingStopped) return false;
        throw err;
      }
    };
    const trainAndEvaluate = async (c: CandidateState, label: string, publish: boolean) => {
      if (!state.teacherEval) {
        if (run.stopRequested()) return false;
        state.teacherEval = await evaluate(run.teacher);
        run.progress.note(
          `teacher: FD ${fixed(state.teacherEval.fd)} (floor ${fixed(state.teacherEval.floor)})`,
        );
        save();
      }
      if (run.stopRequested()) return false;
      const iters = fullIters(s, c);
      const anneal = fullAnneal(s, iters, maxIters);
      // A folder that cannot go on to `iters` under this schedule (trained past the rungs under
      // another, or past `iters`) is kept in the store when it is a finished full training,
      // then goes back to the furthest kept checkpoint on the new schedule's way (a rung, or a
      // constant full training before the decay) or to the teacher's weights.
      const dir = join(run.out, 'candidates', c.name);
      const at = checkpointStep(dir);
      const recipe = c.fullRecipe?.anneal ?? undefined;
      const point = fullPoint(iters, anneal);
      // An earlier full training the folder holds is kept before the folder moves on or back.
      const earlier = c.earlierFull?.at(-1);
      if (
        at !== null &&
        earlier?.iters === at &&
        sameAnneal(earlier.anneal, recipe) &&
        !storedRung(store, c.name, fullPoint(at, earlier.anneal))
      )
        keepRung(store, c.name, fullPoint(at, earlier.anneal), dir, {
          proxy: Number.isFinite(earlier.proxy) ? earlier.proxy : null,
          trainSeconds: earlier.trainSeconds,
        });
      if (
        at !== null &&
        (at > iters || (at > maxIters && !continuesInto(at, recipe, anneal))) &&
        !storedRung(store, c.name, point)
      ) {
        const why =
          at > iters
            ? `trained to ${at} iterations, past ${iters}`
            : 'trained past its rungs under another schedule';
        // The furthest kept checkpoint the new schedule passes through: its constant part.
        const back = furthestConstant(store, c.name, Math.min(iters, anneal?.from ?? iters));
        if (back !== null) {
          restoreRung(store, c.name, back, dir);
          run.progress.note(`${label}: ${why}; from iteration ${back} again`);
        } else {
          rmSync(dir, { recursive: true, force: true });
          run.progress.note(
            `${label}: ${why}, and no checkpoint on its way is kept; from the teacher's weights again`,
          );
        }
      }
      c.fullRecipe = { anneal: anneal ?? null };
      save();
      const scored = await trainAndScore(c, iters, label, anneal);
      if (!scored) return false;
      try {
        c.full = {
          iters: scored.iters,
          proxy: scored.proxy,
          trainSeconds: scored.trainSeconds,
          ...(anneal ? { anneal } : {}),
          ...(scored.reused ? { reused: true } : {}),
        };
        save();
        if (run.stopRequested()) return false;
        c.full.eval = await evaluate(scored.model);
        if (publish) publishWinner(run.out, c.name);
      } finally {
        scored.model.dispose();
      }
      run.progress.note(
        `${label}: FD ${fixed(c.full.eval?.fd)} after ${scored.iters} iterations (teacher ${fixed(state.teacherEval?.fd)})`,
      );
      save();
      return true;
    };

    if (state.phase === 'training') {
      const winners = state.candidates.filter((c) => c.winner);
      for (const [i, c] of winners.entries()) {
        if (c.full?.eval) continue;
        if (!(await trainFully(c, `winner ${i + 1}/${winners.length}: ${c.name}`, true)))
          return state;
      }
      enter(correlationPicks(state).length > 0 ? 'correlating' : 'done');
    }

    if (state.phase === 'correlating') {
      const picks = correlationPicks(state);
      for (const [i, c] of picks.entries()) {
        const label = `for the proxy's correlation ${i + 1}/${picks.length}: ${c.name}`;
        if (!(await trainFully(c, label, false))) return state;
      }
      const r = proxyCorrelation(state);
      if (r)
        run.progress.note(
          `the proxy's Spearman rank correlation with FD after full training, over ${r.n} candidates: first rung ${fixed(r.firstRung)}, after full training ${fixed(r.full)}`,
        );
      enter('done');
    }
  }
  return state;
}

/** A winner's checkpoint for people and the registry: DIR/winners/NAME (weights and config). */
export function winnerDir(out: string, name: string): string {
  return join(out, 'winners', name);
}

function publishWinner(out: string, name: string): void {
  const from = join(out, 'candidates', name);
  const to = winnerDir(out, name);
  mkdirSync(to, { recursive: true });
  for (const file of [MODEL_FILE, CONFIG_FILE]) copyFileSync(join(from, file), join(to, file));
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
    (c) => (c.measured ? objectiveMs(state.settings, c.measured) : Number.POSITIVE_INFINITY),
    (c) => c.measured?.trainPeakBytes ?? Number.POSITIVE_INFINITY,
  ]);
}
