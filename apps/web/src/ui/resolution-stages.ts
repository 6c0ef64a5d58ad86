/** One stage of a progressive-resolution run as its logged metrics show it. */
export interface ResolutionStageSpan {
  stage: number;
  resolution: number;
  /** The first and last logged steps of the stage. */
  fromStep: number;
  toStep: number;
}

interface Series {
  key: string;
  points: { step: number; value: number }[];
}

/**
 * The stages of a progressive-resolution run (issue 16 §2) from its `stage` and `resolution`
 * metrics, in order; empty for a run that logged no stage (one resolution throughout).
 */
export function resolutionStageSpans(series: readonly Series[]): ResolutionStageSpan[] {
  const stage = series.find((s) => s.key === 'stage');
  const resolution = series.find((s) => s.key === 'resolution');
  if (!stage || !resolution) return [];
  const side = new Map(resolution.points.map((p) => [p.step, p.value]));
  const spans: ResolutionStageSpan[] = [];
  for (const p of [...stage.points].sort((a, b) => a.step - b.step)) {
    const r = side.get(p.step);
    if (r === undefined) continue;
    const last = spans.at(-1);
    if (last && last.stage === p.value) last.toStep = p.step;
    else spans.push({ stage: p.value, resolution: r, fromStep: p.step, toStep: p.step });
  }
  return spans;
}
