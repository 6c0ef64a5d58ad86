import type { LearnedSchedule } from '@anneal/engine/config';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { LearnedSchedules } from './schedule-plot.tsx';

const schedule: LearnedSchedule = {
  sampler: 'dpmpp-2m',
  nfe: 3,
  steps: 3,
  sigmas: [157, 4.2, 0.3, 0],
  method: 'dp + coordinate descent',
  calibration: {
    n: 64,
    seed: 1000,
    heldout_seed: 1001,
    reference: { sampler: 'heun', steps: 100 },
  },
  scores: {
    baseline: { schedule: 'default', train_error: 0.02, heldout_error: 0.021 },
    learned: { train_error: 0.01, heldout_error: 0.011 },
    hand_crafted: [
      { schedule: 'uniform', sigmas: [157, 10, 0.01, 0], train_error: 0.05, heldout_error: 0.051 },
      { schedule: 'karras', sigmas: [157, 1.9, 0.01, 0], train_error: 0.02, heldout_error: 0.021 },
    ],
  },
  model: 'models/mnist-v-small',
  created_at: '2026-12-02T05:00:00.000Z',
};

describe('learned schedule plot', () => {
  it('draws the learned schedule beside Karras and uniform, one line each, with the errors', () => {
    const html = renderToStaticMarkup(createElement(LearnedSchedules, { schedules: [schedule] }));
    expect(html).toContain('data-testid="schedule-dpmpp-2m-nfe3"');
    expect(html).toMatch(/learned 1\.10e-2, best hand-crafted \(karras\) 2\.10e-2/);
    const lines = [
      ...html.matchAll(/<polyline class="series" stroke="[^"]+" points="([^"]+)"/g),
    ].map((m) => (m[1] ?? '').split(' ').map((p) => Number(p.split(',')[1])));
    expect(lines).toHaveLength(3);
    // A log axis: each line's drop in pixels from sigma_0 is proportional to log(sigma_0 / sigma_i).
    const [learned, karras, uniform] = lines as [number[], number[], number[]];
    const perDecade = ((learned[1] ?? 0) - (learned[0] ?? 0)) / Math.log10(157 / 4.2);
    expect(((karras[1] ?? 0) - (karras[0] ?? 0)) / Math.log10(157 / 1.9)).toBeCloseTo(perDecade, 0);
    expect(((uniform[1] ?? 0) - (uniform[0] ?? 0)) / Math.log10(157 / 10)).toBeCloseTo(
      perDecade,
      0,
    );
    for (const name of ['learned', 'karras', 'uniform']) expect(html).toContain(name);
  });
});
