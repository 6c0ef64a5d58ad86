// A search's full trainings (issue 19): the winners', and the correlation's candidates', past
// the last rung. How many iterations, whether the rate decays, and what a resume that changes
// either does to the trainings already done.
import { SEARCH_COOLDOWN_SHARE } from '@anneal/protocol';
import type { Anneal, CandidateState, SearchSettings, SearchState } from './state.ts';

/**
 * A resume's full-training settings (`--full-iters`, `--full-schedule`): a full training that
 * does not match them moves to `earlierFull` (kept for the record) and is trained again, from
 * the candidate's folder where its schedule allows (a constant rate carries on past 2,000
 * iterations to 4,000, or into a cooldown that starts at or after 2,000), otherwise from the
 * furthest kept checkpoint on the new schedule's way. Returns the candidates to train again.
 */
export function changeFullTraining(
  state: SearchState,
  iters: number,
  schedule: SearchSettings['fullSchedule'],
): string[] {
  const s = state.settings;
  s.fullIters = iters;
  s.fullSchedule = schedule;
  // The halving is over wherever a full training exists: its last rung is the furthest.
  const maxIters = Math.max(0, ...state.candidates.map((c) => c.rungs.at(-1)?.iters ?? 0));
  const stale: CandidateState[] = [];
  for (const c of state.candidates) {
    if (!c.full) continue;
    const to = fullIters(s, c);
    if (c.full.iters === to && sameAnneal(c.full.anneal, fullAnneal(s, to, maxIters))) continue;
    c.earlierFull = [...(c.earlierFull ?? []), c.full];
    c.full = undefined;
    stale.push(c);
  }
  if (stale.some((c) => c.winner) && (state.phase === 'correlating' || state.phase === 'done'))
    state.phase = 'training';
  if (stale.length > 0) state.finishedAt = undefined;
  return stale.map((c) => c.name);
}

/** A full training's iterations: the settings', or the candidate's last rung when further. */
export function fullIters(s: SearchSettings, c: CandidateState): number {
  return Math.max(s.fullIters, c.rungs.at(-1)?.iters ?? 0);
}

/**
 * A full training's decay, when it trains past the last rung (`maxIters`): cosine from the last
 * rung, or (cooldown) over the last `SEARCH_COOLDOWN_SHARE` of its iterations, never before the
 * last rung.
 */
export function fullAnneal(s: SearchSettings, iters: number, maxIters: number): Anneal | undefined {
  if (s.fullSchedule === 'constant' || iters <= maxIters) return undefined;
  const from =
    s.fullSchedule === 'cosine'
      ? maxIters
      : Math.max(maxIters, iters - Math.round(iters * SEARCH_COOLDOWN_SHARE));
  return { from, to: iters };
}

/**
 * Whether a folder trained to `at` under `recipe` lies on the way to `anneal`: the same
 * schedule, or a constant rate that stops at or before the new decay begins.
 */
export function continuesInto(at: number, recipe: Anneal | undefined, anneal: Anneal | undefined) {
  return sameAnneal(recipe, anneal) || (recipe === undefined && (!anneal || at <= anneal.from));
}

export function sameAnneal(a: Anneal | undefined, b: Anneal | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.from === b.from && a.to === b.to;
}
