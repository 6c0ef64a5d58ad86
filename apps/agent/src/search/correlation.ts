// How well the quality proxy ranks (issue 19 section 3): which pool members train fully for
// the comparison, kept in the state so a resumed search trains the same ones, and Spearman's
// rank correlation of the proxy with their FD after full training.
import { join } from 'node:path';
import { spearman } from '@anneal/engine';
import type { SearchCorrelation } from '@anneal/protocol';
import { pairedFdResamples, rankCorrelationSpread } from '../quality/bootstrap.ts';
import { evalFeaturesPath, readFeatures, readRealSet } from './features.ts';
import { fullPoint } from './proxy-store.ts';
import { evenlySpread } from './select.ts';
import type { CandidateState, SearchState } from './state.ts';

/** Paired resamples behind the correlation's spread: each costs one FD per candidate. */
export const CORRELATION_RESAMPLES = 100;

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
  const done = evaluated(state);
  if (done.length < 3) return null;
  const spread = state.correlationSpread;
  const current = spread && sameNames(spread.names, done);
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
    ...(current
      ? { spread: { resamples: spread.resamples, firstRung: spread.firstRung, full: spread.full } }
      : {}),
  };
}

/** The ranked candidates evaluated after full training, FD finite: what the correlation is over. */
export function evaluated(state: SearchState): CandidateState[] {
  return ranked(state).filter((c) => c.full?.eval && Number.isFinite(c.full.eval.fd));
}

const sameNames = (names: string[], cs: CandidateState[]) =>
  names.length === cs.length && cs.every((c, i) => c.name === names[i]);

/** Whether the correlation's spread is missing or was computed over other candidates. */
export function spreadStale(state: SearchState): boolean {
  const done = evaluated(state);
  return done.length >= 3 && !sameNames(state.correlationSpread?.names ?? [], done);
}

/** Where a candidate's evaluation features are kept (features.ts), for its current training. */
export function featuresPathOf(out: string, c: CandidateState): string | null {
  return c.full
    ? evalFeaturesPath(join(out, 'candidates', c.name), fullPoint(c.full.iters, c.full.anneal))
    : null;
}

/**
 * The spread of the proxy's rank correlations over paired bootstrap resamples of the
 * evaluations (quality/bootstrap.ts): the same rows of every candidate's samples and of the
 * real set, within classes. FD's own sampling noise, not the proxy's, moves the ranks. Null
 * with fewer than 3 evaluated, or when an evaluation's features (or the real set's) were not
 * kept in `out`.
 */
export function correlationSpread(
  state: SearchState,
  out: string,
  resamples = CORRELATION_RESAMPLES,
): NonNullable<SearchState['correlationSpread']> | null {
  const done = evaluated(state);
  const realSet = readRealSet(out);
  if (done.length < 3 || !realSet) return null;
  const sets = done.map((c) => {
    const path = featuresPathOf(out, c);
    return path ? readFeatures(path) : null;
  });
  if (sets.some((s) => s === null)) return null;
  const resampled = pairedFdResamples(realSet.real, sets as NonNullable<(typeof sets)[number]>[], {
    seed: 0,
    resamples,
    strata: realSet.strata,
  });
  const fds = done.map((c) => c.full?.eval?.fd as number);
  const interval = (s: ReturnType<typeof rankCorrelationSpread>) =>
    s ? { low: s.low, high: s.high, std: s.std } : null;
  const finite = done.flatMap((c, i) => (Number.isFinite(c.full?.proxy) ? [i] : []));
  const pick = (values: number[]) => finite.map((i) => values[i] as number);
  return {
    names: done.map((c) => c.name),
    resamples,
    firstRung: interval(
      rankCorrelationSpread(
        done.map((c) => c.rungs[0]?.proxy as number),
        fds,
        resampled,
      ),
    ),
    full:
      finite.length >= 3
        ? interval(
            rankCorrelationSpread(
              pick(done.map((c) => c.full?.proxy as number)),
              pick(fds),
              resampled.map(pick),
            ),
          )
        : null,
  };
}
