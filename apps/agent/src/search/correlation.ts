// How well the quality proxy ranks (issue 19 section 3): which pool members train fully for
// the comparison, kept in the state so a resumed search trains the same ones, and Spearman's
// rank correlation of the proxy with their FD after full training.
import { spearman } from '@anneal/engine';
import type { SearchCorrelation } from '@anneal/protocol';
import { evenlySpread } from './select.ts';
import type { CandidateState, SearchState } from './state.ts';

/**
 * The pool members that reached a rung, best first by the first rung's proxy: what the proxy
 * ranked. A member whose proxy or training diverged (not finite) is not ranked.
 */
function ranked(state: SearchState): CandidateState[] {
  return state.candidates
    .filter(
      (c) =>
        c.pool &&
        c.rungs[0] &&
        Number.isFinite(c.rungs[0].proxy) &&
        !c.rungs.some((r) => r.diverged),
    )
    .sort((a, b) => (a.rungs[0]?.proxy ?? 0) - (b.rungs[0]?.proxy ?? 0));
}

/**
 * The candidates the proxy's correlation trains fully, still to train, in rank order. With the
 * winners (and any other member already evaluated), `settings.correlate` of the ranked pool
 * (all when fewer): the rest are spread evenly over the first rung's proxy ranks and marked in
 * the state, so a resumed search trains the same ones; a larger `correlate` later only adds.
 */
export function correlationPicks(state: SearchState): CandidateState[] {
  const all = ranked(state);
  const trained = (c: CandidateState) =>
    c.full?.eval !== undefined || c.full?.diverged !== undefined;
  const chosen = (c: CandidateState) => c.winner || c.correlate || trained(c);
  const need = Math.min(state.settings.correlate, all.length) - all.filter(chosen).length;
  const rest = all.filter((c) => !chosen(c));
  if (need > 0) {
    const picked = evenlySpread(rest, need);
    for (const c of picked) c.correlate = true;
  }
  return all.filter((c) => c.correlate && !trained(c));
}

/**
 * Spearman's rank correlation of the proxy with FD after full training, over the candidates
 * evaluated (issue 19 section 3): the first rung's proxy, and the proxy after full training
 * (over those whose proxies are finite). Null with fewer than 3.
 */
export function proxyCorrelation(state: SearchState): SearchCorrelation | null {
  const done = ranked(state).filter((c) => c.full?.eval && Number.isFinite(c.full.eval.fd));
  if (done.length < 3) return null;
  const fd = (c: CandidateState) => c.full?.eval?.fd as number;
  const full = done.filter((c) => Number.isFinite(c.full?.proxy));
  return {
    n: done.length,
    firstRung: spearman(
      done.map((c) => c.rungs[0]?.proxy as number),
      done.map(fd),
    ),
    full:
      full.length >= 3
        ? spearman(
            full.map((c) => c.full?.proxy as number),
            full.map(fd),
          )
        : null,
  };
}
