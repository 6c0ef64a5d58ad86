import { hasStepNfe, samplerNfe } from '@anneal/engine/config';

/**
 * Network evaluations of one sampling at `steps` steps (the engine config's samplerNfe); null
 * for the adaptive sampler, whose NFE depends on the images, so no phase scales from it.
 */
export function samplingNfe(sampler: string, steps: number): number | null {
  return hasStepNfe(sampler) ? samplerNfe(sampler, steps) : null;
}

/** What an evaluation will do after its extractor, known before it starts. */
export interface EvalPlan {
  sampleSteps: number;
  sampleSampler: string;
  reference: { steps: number; sampler: string } | null;
  /** The nearest-neighbour check: quick, and not estimated. */
  memorization: boolean;
}

/** Seconds left of the whole job; `lowerBound` when a phase still to come cannot be estimated. */
export interface JobEta {
  seconds: number;
  lowerBound: boolean;
}

/**
 * The time left of a whole evaluation, not of its current phase. Each phase's rate is what
 * it has done since it began; the phases still to come are estimated from a rate measured on
 * the same network: the reference sampling from the sampling's seconds per network
 * evaluation (same model, same n, so its cost scales with its NFE). While the extractor
 * trains, sampling has no rate yet: the estimate is then a lower bound.
 */
export class EvalEta {
  #phase = '';
  #start = { at: 0, done: 0 };
  /** The sample phase's whole seconds at its measured rate, once measured. */
  #sampleSeconds: number | null = null;

  constructor(
    private readonly plan: EvalPlan,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reports (phase, done, total) as the evaluation does; null until a rate is known. */
  progress(phase: string, done: number, total: number): JobEta | null {
    const t = this.now();
    if (phase !== this.#phase) {
      this.#phase = phase;
      this.#start = { at: t, done };
    }
    const ticks = done - this.#start.done;
    const elapsed = (t - this.#start.at) / 1000;
    const rate = ticks > 0 && elapsed > 0 ? elapsed / ticks : null;
    const left = rate === null ? null : rate * (total - done);
    if (phase === 'sample' && rate !== null) this.#sampleSeconds = rate * total;
    if (left === null && phase !== 'scoring' && phase !== 'memorization') return null;
    const later = this.#later(phase);
    return {
      seconds: (left ?? 0) + (later ?? 0),
      lowerBound: later === null || this.plan.memorization || phase === 'extractor',
    };
  }

  /** The estimated seconds of the phases after `phase`; null when one cannot be estimated. */
  #later(phase: string): number | null {
    const order = ['extractor', 'sample', 'scoring', 'reference', 'memorization'];
    const after = order.slice(order.indexOf(phase) + 1);
    let seconds = 0;
    for (const next of after) {
      if (next === 'sample') return null; // no rate on the model yet
      if (next === 'reference' && this.plan.reference) {
        if (this.#sampleSeconds === null) return null;
        // Same model, same n, so the same chunks: the time scales with the NFE. Not with an
        // adaptive sampler on either side: its NFE is known only after it ran.
        const { steps, sampler } = this.plan.reference;
        const ref = samplingNfe(sampler, steps);
        const own = samplingNfe(this.plan.sampleSampler, this.plan.sampleSteps);
        if (ref === null || own === null) return null;
        seconds += (this.#sampleSeconds * ref) / own;
      }
    }
    return seconds;
  }
}
