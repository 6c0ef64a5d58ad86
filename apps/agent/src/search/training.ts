// The phases of a search after its measurements (issue 19 sections 3 and 4): successive
// halving on the quality proxy, the winners trained on to the full budget and evaluated beside
// the teacher on one ruler; the proxy's rank correlation trains its candidates the same way
// (correlating.ts).
// Training resumes from each candidate's folder; a rung another search of this teacher kept
// is read instead of trained again.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAnnealHome } from '@anneal/core/home';
import { CONFIG_FILE, MODEL_FILE, Model, nativeErrorCode, SamplingStopped } from '@anneal/engine';
import { evaluateModel } from '../quality/evaluate.ts';
import { correlatingPhase } from './correlating.ts';
import { correlationPicks, featuresPathOf } from './correlation.ts';
import { writeFeatures, writeRealSet } from './features.ts';
import { continuesInto, fullAnneal, fullIters, sameAnneal } from './full.ts';
import { proxyScore, proxyWarmup, teacherImages, trainRung } from './proxy.ts';
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
import type { SearchContext } from './run.ts';
import { halvingRungs, survivors } from './select.ts';
import type { Candidate } from './space.ts';
import { type Anneal, type CandidateState, fixed, type SearchEval, searchFront } from './state.ts';

/** A training's end: its EMA weights loaded (the caller disposes them) and their proxy. */
interface Scored {
  model: Model;
  iters: number;
  proxy: number;
  trainSeconds: number;
  reused: boolean;
}

/** A training whose loss stayed non-finite: why, and the step its last checkpoint holds. */
interface Diverged {
  diverged: string;
  iters: number;
  trainSeconds: number;
}

/** Halving, the winners' full training and the correlation's, as far as the state has come. */
export async function trainingPhases(ctx: SearchContext): Promise<void> {
  const { run, state, save, enter } = ctx;
  const s = state.settings;
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
   * teacher kept them); null when a stop was requested; `diverged` (why) when its loss stayed
   * non-finite past the trainer's rollbacks: the same seed diverges again, so a resume does not
   * train it again. `anneal`: a full training's decay. `own`: the candidate's folder already
   * holds this search's training to this point (under this schedule), so a point kept in the
   * store is this search's own, read back from the folder, not an earlier search's (a stop
   * came after the point was kept and before the state said so, or during the evaluation).
   */
  const trainAndScore = async (
    c: CandidateState,
    iters: number,
    label: string,
    { anneal, own }: { anneal?: Anneal; own: boolean },
  ): Promise<Scored | Diverged | null> => {
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
    if (kept && !own) {
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
    let charged = 0;
    // Wall time and CPU time are written with every checkpoint, so a killed process loses
    // at most one checkpoint interval of either.
    const charge = () => {
      const now = (performance.now() - t0) / 1000;
      state.seconds.proxy += now - charged;
      charged = now;
    };
    let trained: Awaited<ReturnType<typeof trainRung>>;
    try {
      trained = await trainRung({
        teacher: run.teacher,
        candidate: c as Candidate,
        dataset: run.dataset,
        dir,
        iters,
        maxIters,
        settings: s.proxy,
        anneal,
        atDecayStart: keepDecayStart,
        onCheckpoint: () => {
          charge();
          save();
        },
        onStep: (st) => run.progress.update(label, st, iters),
        stopRequested: run.stopRequested,
      });
    } catch (err) {
      if (nativeErrorCode((err as Error).cause) !== 'ANNEAL_DIVERGED') throw err;
      charge();
      return {
        diverged: (err as Error).message,
        iters: checkpointStep(dir) ?? 0,
        trainSeconds: (performance.now() - t0) / 1000,
      };
    }
    charge();
    const { model, step } = trained;
    const trainSeconds = own && kept ? kept.trainSeconds : (performance.now() - t0) / 1000;
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
        if (run.stopRequested()) return;
        const label = `rung ${r + 1}/${rungs.length}: ${c.name} (${i + 1}/${alive.length})`;
        // Rungs train at the constant rate: a folder at the rung's iterations is the rung.
        const own = checkpointStep(join(run.out, 'candidates', c.name)) === rung.iters;
        const scored = await trainAndScore(c, rung.iters, label, { own });
        if (!scored) return;
        if ('diverged' in scored) {
          const { diverged, iters, trainSeconds } = scored;
          c.rungs[r] = { iters, proxy: Number.NaN, trainSeconds, diverged };
          c.dropped = `diverged in rung ${r + 1}, after iteration ${iters} (${diverged})`;
          run.progress.note(`${label}: ${c.dropped}`);
          save();
          continue;
        }
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
      const finished = alive.filter((c) => !c.dropped);
      const kept = new Set(
        survivors(
          finished.map((c) => ({ c, score: c.rungs[r]?.proxy ?? Number.NaN })),
          rung.keep,
        ),
      );
      for (const c of finished)
        if (!kept.has(c))
          c.dropped = `halved out after rung ${r + 1} (proxy ${c.rungs[r]?.proxy.toExponential(3)})`;
      save();
    }
    // The winners: the front's students, best proxy first (the front's proxies are finite).
    const last = rungs.length - 1;
    const front = searchFront(state).filter((c) => c.name !== state.teacher.name);
    front.sort(
      (a, b) =>
        (a.rungs[last]?.proxy ?? 0) - (b.rungs[last]?.proxy ?? 0) || a.name.localeCompare(b.name),
    );
    for (const c of front.slice(0, s.winners)) c.winner = true;
    enter('training');
  }

  // Each winner trained on to fullIters, then its FD beside the teacher's on one ruler.
  /**
   * A model's FD beside the teacher's on one ruler. The real set's features are kept in the
   * search's folder, and with `keep` the samples' at that path: for the correlation's spread.
   */
  const evaluate = async (model: Model, keep?: string): Promise<SearchEval> => {
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
      keepFeatures: true,
    });
    if (r.features) {
      writeRealSet(run.out, r.features.real, r.features.strata);
      if (keep) writeFeatures(keep, r.features.generated);
    }
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
    // The folder at `iters` under this schedule is this training, done (a stop came during
    // its evaluation); under another, the store's copy replaces it.
    const own = checkpointStep(dir) === iters && sameAnneal(recipe, anneal);
    c.fullRecipe = { anneal: anneal ?? null };
    save();
    const scored = await trainAndScore(c, iters, label, { anneal, own });
    if (!scored) return false;
    if ('diverged' in scored) {
      c.full = {
        iters: scored.iters,
        proxy: Number.NaN,
        trainSeconds: scored.trainSeconds,
        ...(anneal ? { anneal } : {}),
        diverged: scored.diverged,
      };
      run.progress.note(
        `${label}: diverged after iteration ${scored.iters}, not evaluated (${scored.diverged})`,
      );
      save();
      return true;
    }
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
      c.full.eval = await evaluate(scored.model, featuresPathOf(run.out, c) ?? undefined);
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
      if (c.full?.eval || c.full?.diverged) continue;
      if (!(await trainFully(c, `winner ${i + 1}/${winners.length}: ${c.name}`, true))) return;
    }
    enter(correlationPicks(state).length > 0 ? 'correlating' : 'done');
  }

  if (state.phase === 'correlating') await correlatingPhase(ctx, { trainFully, evaluate });
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
