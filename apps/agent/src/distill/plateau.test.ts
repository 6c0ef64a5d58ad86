import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type HeldoutPoint, type PlateauRule, plateauDecision } from './plateau.ts';

const rule: PlateauRule = { window: 3, threshold: 0.01, minIters: 0, maxIters: 10_000 };

/** Feeds the points one by one, as the stage loop does; returns where it stopped. */
function firstStop(points: HeldoutPoint[], r: PlateauRule) {
  for (let i = 1; i <= points.length; i++) {
    const d = plateauDecision(points.slice(0, i), r);
    if (d.stop) return { at: points[i - 1]?.iter, ...d };
  }
  return undefined;
}

describe('the plateau rule', () => {
  it('keeps going while the loss falls, stops once the window stops improving', () => {
    // Falls 10% per evaluation, then flattens at 0.3 (with noise well below 1%).
    const falling = [1, 0.9, 0.81, 0.73, 0.66, 0.59, 0.53, 0.48, 0.43, 0.39, 0.35, 0.32, 0.3];
    const flat = [0.301, 0.2995, 0.3004, 0.2998, 0.3002];
    const points = [...falling, ...flat].map((loss, i) => ({ iter: (i + 1) * 50, loss }));
    const stop = firstStop(points, rule);
    // 0.3 is the best before the window; the window's best (0.2995 at 14, 0.2998 ...) is < 1% better.
    expect(stop?.at).toBe(16 * 50);
    expect(stop?.reason).toMatch(/^held-out loss plateaued at iteration 800: 0\.17% better/);
    expect(firstStop(points.slice(0, 13), rule)).toBeUndefined();
  });

  it('says "worse" when the window is worse than the best before it', () => {
    const points = [1, 0.5, 0.6, 0.62, 0.7].map((loss, i) => ({ iter: (i + 1) * 100, loss }));
    const stop = firstStop(points, rule);
    expect(stop).toMatchObject({ stop: true, at: 500 });
    expect(stop?.improvement).toBeCloseTo(-0.2, 12);
    expect(stop?.reason).toBe(
      'held-out loss plateaued at iteration 500: the best of the last 3 evaluations is 20.00% worse than the best before them',
    );
  });

  it('on a recorded loss curve (the MNIST v teacher): stops after the fast fall, later for a longer window', () => {
    const lines = readFileSync(
      new URL('../../../../models/mnist-v-small/metrics.jsonl', import.meta.url),
      'utf8',
    )
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { step?: number; loss?: number })
      .filter((m) => typeof m.step === 'number' && typeof m.loss === 'number');
    // Mean over blocks of 5 logged steps: a held-out loss is an average, not one batch.
    const points: HeldoutPoint[] = [];
    for (let i = 0; i + 5 <= lines.length; i += 5) {
      const block = lines.slice(i, i + 5);
      points.push({
        iter: block.at(-1)?.step as number,
        loss: block.reduce((a, m) => a + (m.loss as number), 0) / 5,
      });
    }
    expect(points.length).toBeGreaterThan(20);
    const short = firstStop(points, { ...rule, window: 4, threshold: 0.05 });
    const long = firstStop(points, { ...rule, window: 8, threshold: 0.05 });
    // The fast fall (0.36 -> 0.15 by step 300) never stops it; the best of steps 500-650 is no
    // better than step 450's, so a 4-evaluation window stops at 650; a longer window waits
    // out more noise.
    expect(short).toMatchObject({ stop: true, at: 650 });
    expect(long?.at).toBeGreaterThan(650);
    for (let i = 1; i <= 6; i++)
      expect(
        plateauDecision(points.slice(0, i), { ...rule, window: 4, threshold: 0.05 }).stop,
      ).toBe(false);
  });

  it('stops at the iteration cap, at once on a non-finite loss, and not before minIters', () => {
    const falling = Array.from({ length: 10 }, (_, i) => ({
      iter: (i + 1) * 100,
      loss: 1 / (i + 1),
    }));
    expect(firstStop(falling, { ...rule, maxIters: 500 })).toMatchObject({
      at: 500,
      reason: 'reached --max-iters-per-stage 500',
    });
    expect(
      firstStop([...falling.slice(0, 2), { iter: 300, loss: Number.NaN }], rule),
    ).toMatchObject({ at: 300, reason: 'held-out loss is NaN at iteration 300' });
    const flat = Array.from({ length: 10 }, (_, i) => ({ iter: (i + 1) * 100, loss: 0.5 }));
    expect(firstStop(flat, rule)?.at).toBe(400);
    expect(firstStop(flat, { ...rule, minIters: 700 })?.at).toBe(700);
  });

  it('needs window + 1 evaluations before judging a plateau', () => {
    const flat = [0.5, 0.5, 0.5].map((loss, i) => ({ iter: i + 1, loss }));
    expect(plateauDecision(flat, rule)).toMatchObject({ stop: false, improvement: null });
    expect(plateauDecision([], rule).stop).toBe(false);
    expect(() => plateauDecision(flat, { ...rule, window: 0 })).toThrow(/window/);
  });
});
