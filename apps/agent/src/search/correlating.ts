// The search's last phase (issue 19 section 3): the candidates picked for the proxy's rank
// correlation trained on to the full budget and evaluated like the winners, then the
// correlation over every evaluated candidate with its spread over paired resamples of the
// evaluations' features.
import { join } from 'node:path';
import { Model, SamplingStopped } from '@anneal/engine';
import { searchRankText } from '@anneal/protocol';
import {
  CORRELATION_RESAMPLES,
  correlationPicks,
  correlationSpread,
  evaluated,
  featuresPathOf,
  proxyCorrelation,
} from './correlation.ts';
import { readFeatures } from './features.ts';
import { sameAnneal } from './full.ts';
import { checkpointStep } from './proxy-store.ts';
import type { SearchContext } from './run.ts';
import { type CandidateState, fixed, type SearchEval } from './state.ts';

/** What the correlation borrows from the winners' phase (training.ts). */
export interface FullTraining {
  /** Trains `c` on to the full budget and evaluates it; false when a stop was requested. */
  trainFully(c: CandidateState, label: string, publish: boolean): Promise<boolean>;
  /** A model's FD beside the teacher's; with `keep`, its samples' features kept at that path. */
  evaluate(model: Model, keep?: string): Promise<SearchEval>;
}

/** Trains the correlation's picks, then reports the correlation; returns early on a stop. */
export async function correlatingPhase(ctx: SearchContext, full: FullTraining): Promise<void> {
  const { run, state, enter } = ctx;
  const picks = correlationPicks(state);
  for (const [i, c] of picks.entries()) {
    const label = `for the proxy's correlation ${i + 1}/${picks.length}: ${c.name}`;
    if (!(await full.trainFully(c, label, false))) return;
  }
  if (!(await keepMissingFeatures(ctx, full.evaluate))) return;
  // Without every evaluation's features there is none, and that stands (null intervals)
  // until other candidates are evaluated: a resume does not try again.
  const done = evaluated(state);
  if (done.length >= 3)
    state.correlationSpread = correlationSpread(state, run.out) ?? {
      names: done.map((c) => c.name),
      resamples: CORRELATION_RESAMPLES,
      firstRung: null,
      full: null,
    };
  const r = proxyCorrelation(state);
  if (r)
    run.progress.note(
      `the proxy's Spearman rank correlation with FD after full training, over ${r.n} candidates: first rung ${searchRankText(r.firstRung, r.spread?.firstRung)}, after full training ${searchRankText(r.full, r.spread?.full)}`,
    );
  enter('done');
}

/**
 * The evaluations the correlation is over whose features were not kept (evaluated before
 * they were): drawn again from the candidate's folder, with the same seed and so the same
 * samples, where the folder still holds that training. False when a stop was requested.
 */
async function keepMissingFeatures(
  { run, state }: SearchContext,
  evaluate: FullTraining['evaluate'],
): Promise<boolean> {
  for (const c of evaluated(state)) {
    const path = featuresPathOf(run.out, c);
    const full = c.full;
    if (!path || !full?.eval || readFeatures(path)) continue;
    const dir = join(run.out, 'candidates', c.name);
    if (
      checkpointStep(dir) !== full.iters ||
      !sameAnneal(c.fullRecipe?.anneal ?? undefined, full.anneal)
    ) {
      run.progress.note(
        `${c.name}: its folder no longer holds the training evaluated, so its samples cannot be drawn again for the correlation's spread`,
      );
      continue;
    }
    if (run.stopRequested()) return false;
    const model = Model.load(dir);
    try {
      const again = await evaluate(model, path);
      run.progress.note(
        `${c.name}: evaluation drawn again for the correlation's spread: FD ${fixed(again.fd)} (${fixed(full.eval.fd)} when first evaluated)`,
      );
    } catch (err) {
      if (err instanceof SamplingStopped) return false;
      throw err;
    } finally {
      model.dispose();
    }
  }
  return true;
}
