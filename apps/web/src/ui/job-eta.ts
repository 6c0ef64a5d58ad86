// The time left of a running job on the jobs page, from the progress its agent reports.

/** The latest progress an agent reported for a job, and where this phase's rate is measured from. */
export interface LiveProgress {
  step: number;
  total: number;
  phase?: string;
  /** The agent's estimate for the whole job (evaluate), which outranks this phase's rate. */
  etaS?: number;
  etaLowerBound?: boolean;
  /** When (this page's clock, ms) etaS was received: it counts down from there. */
  etaAt?: number;
  /** The event's time (server clock, ms), for the rate. */
  at: number;
  /** When (this page's clock, ms) the event arrived: the rate's estimate counts down from there. */
  receivedAt: number;
  from: { step: number; at: number };
}

/**
 * The next progress of a job from an event. A new phase (evaluate: extractor, sampling,
 * reference) restarts the rate; an event without a whole-job estimate keeps the last one
 * (an evaluation says none until a new phase has a rate), which goes on counting down.
 */
export function nextProgress(
  last: LiveProgress | undefined,
  e: {
    step: number;
    total: number;
    phase?: string;
    etaS?: number;
    etaLowerBound?: boolean;
    at: number;
  },
  receivedAt: number,
): LiveProgress {
  const from =
    last && last.total === e.total && last.phase === e.phase && last.step <= e.step
      ? last.from
      : { step: e.step, at: e.at };
  const whole =
    e.etaS !== undefined
      ? { etaS: e.etaS, etaLowerBound: e.etaLowerBound, etaAt: receivedAt }
      : { etaS: last?.etaS, etaLowerBound: last?.etaLowerBound, etaAt: last?.etaAt };
  return { step: e.step, total: e.total, phase: e.phase, ...whole, at: e.at, receivedAt, from };
}

function seconds(s: number): string {
  return s < 60 ? `${Math.ceil(s)} s left` : `${Math.ceil(s / 60)} min left`;
}

/**
 * Time left at `now` (this page's clock, ms): the whole-job estimate counted down since it
 * came, else this phase's rate since it started (or since this page opened), counted down
 * since the last event; '' when there is none.
 */
export function etaText(live: LiveProgress | undefined, status: string, now: number): string {
  if (!live || status !== 'running') return '';
  if (live.etaS !== undefined) {
    const left = Math.max(0, live.etaS - (now - (live.etaAt ?? now)) / 1000);
    return live.etaLowerBound ? `over ${seconds(left)}` : seconds(left);
  }
  if (live.step >= live.total) return '';
  const done = live.step - live.from.step;
  const elapsed = (live.at - live.from.at) / 1000;
  if (done <= 0 || elapsed <= 0) return '';
  const left = (elapsed / done) * (live.total - live.step) - (now - live.receivedAt) / 1000;
  return seconds(Math.max(0, left));
}
