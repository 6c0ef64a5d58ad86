import { describe, expect, it } from 'vitest';
import { summarize, TRAINING_CASES } from './training.ts';

// The summary of alternating runs: medians over every timed step of every round, ratios
// against the engine, and a loud failure when the contenders' architectures differ.
const c = { ...TRAINING_CASES[0], batch: 32 } as (typeof TRAINING_CASES)[number];
const line = (impl: string, round: number, stepMs: number[], params = 1000) => ({
  impl,
  round,
  params,
  step_ms: stepMs,
  peak_memory_bytes: 1,
  load_avg_1m: 1,
});

describe('training summary', () => {
  it('takes medians across rounds and reports images/s ratios against the engine', () => {
    const runs = [
      line('anneal-engine', 0, [100, 120]),
      line('mlx-python', 0, [200, 200]),
      line('anneal-engine', 1, [110, 400]),
      line('mlx-python', 1, [190, 210]),
    ];
    const [engine, mlx] = summarize(c, ['anneal-engine', 'mlx-python'], runs);
    expect(engine?.step_ms_median).toBe(115);
    expect(engine?.round_medians_ms).toEqual([110, 255]);
    expect(engine?.images_per_s).toBeCloseTo(32_000 / 115);
    expect(mlx?.step_ms_median).toBe(200);
    expect(mlx?.engine_speedup).toBeCloseTo(200 / 115);
    expect(engine?.engine_speedup).toBe(1);
  });

  it('fails naming each contender when parameter counts differ', () => {
    const runs = [line('anneal-engine', 0, [1], 1000), line('diffusers-torch', 0, [1], 1001)];
    expect(() => summarize(c, ['anneal-engine', 'diffusers-torch'], runs)).toThrow(
      /parameter counts differ \(anneal-engine 1000, diffusers-torch 1001\)/,
    );
  });
});
