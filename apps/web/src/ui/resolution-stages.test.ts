import { describe, expect, it } from 'vitest';
import { resolutionStageSpans } from './resolution-stages.ts';

const series = (key: string, values: [number, number][]) => ({
  key,
  points: values.map(([step, value]) => ({ step, value })),
});

describe('resolutionStageSpans', () => {
  it('groups the logged steps of each stage, in order, with its resolution', () => {
    expect(
      resolutionStageSpans([
        series('loss', [[2, 1]]),
        series('stage', [
          [6, 1],
          [2, 0],
          [4, 0],
          [8, 1],
        ]),
        series('resolution', [
          [2, 16],
          [4, 16],
          [6, 32],
          [8, 32],
        ]),
      ]),
    ).toEqual([
      { stage: 0, resolution: 16, fromStep: 2, toStep: 4 },
      { stage: 1, resolution: 32, fromStep: 6, toStep: 8 },
    ]);
  });

  it('is empty for a run of one resolution (no stage metric)', () => {
    expect(resolutionStageSpans([series('resolution', [[2, 32]])])).toEqual([]);
  });
});
