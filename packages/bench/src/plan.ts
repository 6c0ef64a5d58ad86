// The `plan` benchmark (issue 13 section 3): for a set of objectives on one model, the plan
// `anneal plan` chooses, its predicted latency and the latency measured by running it. The
// runner lives with the planner in the agent (it needs the quality curve and the cost table);
// this file holds the result's shape and its table.

export interface PlanBenchRow {
  objective: string;
  sampler: string;
  schedule: string;
  steps: number;
  nfe: number;
  batch: number;
  dtype: string;
  /** Images in the timed request. */
  images: number;
  predicted_ms: number;
  measured_ms: number;
  /** Every timed request. */
  times_ms: number[];
  /** measured / predicted. */
  ratio: number;
  predicted_fd: number;
  fd_interpolated: boolean;
}

export interface PlanBenchResult {
  model: string;
  parameters: number;
  profile: string;
  /** How timed calls are summarized, in the cost table and in the measured column alike. */
  statistic: 'median' | 'min';
  repeats: number;
  curve: { n: number; points: number; samplers: string[] };
  rows: PlanBenchRow[];
  /** Objectives no plan met, with the planner's message. */
  refused: Array<{ objective: string; message: string }>;
  /** Rows whose measured latency is within 15% of the predicted one. */
  within_15pct: number;
  median_abs_error: number;
}

/** The summary numbers of a set of rows. */
export function planSummary(rows: PlanBenchRow[]): { within: number; medianAbsError: number } {
  const errs = rows.map((r) => Math.abs(r.ratio - 1)).sort((a, b) => a - b);
  return {
    within: rows.filter((r) => Math.abs(r.ratio - 1) <= 0.15).length,
    medianAbsError: errs.length ? (errs[Math.floor(errs.length / 2)] as number) : Number.NaN,
  };
}
