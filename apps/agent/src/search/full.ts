// A search's full trainings (issue 19): the winners', and the correlation's candidates', past
// the last rung. How many iterations, whether the rate decays, and what a resume that changes
// either does to the trainings already done.
import type { Anneal, CandidateState, SearchSettings, SearchState } from './state.ts';

/**
 * A resume's full-training settings (`--full-iters`, `--full-schedule`): a full training that
 * does not match them moves to `earlierFull` (kept for the record) and is trained again, from
 * the candidate's folder where its schedule allows (a constant rate carries on past 2,000
 * iterations to 4,000), from its last rung otherwise. Returns the candidates to train again.
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

/** A full training's decay: cosine from the last rung (`maxIters`) when it trains past it. */
export function fullAnneal(s: SearchSettings, iters: number, maxIters: number): Anneal | undefined {
  return s.fullSchedule === 'cosine' && iters > maxIters
    ? { from: maxIters, to: iters }
    : undefined;
}

export function sameAnneal(a: Anneal | undefined, b: Anneal | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.from === b.from && a.to === b.to;
}
