import { describe, expect, it } from 'vitest';
import {
  decideStage,
  halvingStages,
  keptStage,
  type StageResult,
  subsampleGrid,
} from './stages.ts';

// A 32-step grid shaped like a VP model's uniform-in-t DDIM schedule (decreasing, ending in 0).
const base = [...Array.from({ length: 32 }, (_, i) => 80 * 0.8 ** i), 0];

describe('progressive grids', () => {
  it('halves 32 -> 1, each grid a subset of the 32-step grid, the student every second teacher sigma', () => {
    const stages = halvingStages(base, 1);
    expect(stages.map((s) => [s.teacherSteps, s.studentSteps])).toEqual([
      [32, 16],
      [16, 8],
      [8, 4],
      [4, 2],
      [2, 1],
    ]);
    for (const s of stages) {
      expect(s.teacherSigmas).toHaveLength(2 * s.studentSteps + 1);
      expect(s.teacherSigmas.at(-1)).toBe(0);
      expect(s.studentSigmas).toEqual(s.teacherSigmas.filter((_, i) => i % 2 === 0));
      for (const sigma of s.teacherSigmas) expect(base).toContain(sigma);
    }
    // Stage k's teacher is stage k-1's student: it samples the grid it was distilled for.
    for (let k = 1; k < stages.length; k++)
      expect(stages[k]?.teacherSigmas).toEqual(stages[k - 1]?.studentSigmas);
    expect(stages[0]?.teacherSigmas).toEqual(base);
    expect(stages[4]?.studentSigmas).toEqual([80, 0]);
  });

  it('stops at --min-steps', () => {
    expect(halvingStages(base, 4).map((s) => s.studentSteps)).toEqual([16, 8, 4]);
    expect(halvingStages(base, 3).map((s) => s.studentSteps)).toEqual([16, 8, 4]);
    expect(halvingStages(base, 16).map((s) => s.studentSteps)).toEqual([16]);
  });

  it('refuses grids that cannot be halved or do not end in 0', () => {
    expect(() => halvingStages(base.slice(2), 1)).toThrow(/not a power of two/);
    expect(() => halvingStages([3, 2, 1], 1)).toThrow(/end in sigma 0/);
    expect(() => halvingStages([1, 2, 0], 1)).toThrow(/strictly decrease/);
    expect(() => halvingStages(base, 32)).toThrow(/min steps/);
    expect(() => subsampleGrid(base, 5)).toThrow(/evenly/);
  });
});

describe('the stage rule', () => {
  // The shape the issue quotes from Salimans & Ho 2022 (CIFAR-10 FID at 8, 4, 2 and 1 steps),
  // read against a reference FD of 2.5 with the default budget of 1.3x.
  const recorded: StageResult[] = [
    { stage: 1, fromSteps: 32, toSteps: 16, fd: 2.4 },
    { stage: 2, fromSteps: 16, toSteps: 8, fd: 2.57 },
    { stage: 3, fromSteps: 8, toSteps: 4, fd: 3.0 },
    { stage: 4, fromSteps: 4, toSteps: 2, fd: 4.51 },
    { stage: 5, fromSteps: 2, toSteps: 1, fd: 9.12 },
  ];
  const rule = { referenceFd: 2.5, budget: 1.3, minSteps: 1 };

  function run(results: StageResult[], r = rule) {
    const done = [];
    for (const result of results) {
      const decision = decideStage(result, r);
      done.push({ ...result, decision });
      if (!decision.proceed) break;
    }
    return done;
  }

  it('continues while FD <= budget x reference, stops at the first stage over it and keeps the last within', () => {
    const done = run(recorded);
    expect(done.map((s) => s.decision.proceed)).toEqual([true, true, true, false]);
    expect(done.map((s) => s.decision.metBudget)).toEqual([true, true, true, false]);
    expect(done[3]?.decision.reason).toBe('stage 4 (4 -> 2 steps): FD 1.80x reference > 1.3x');
    expect(keptStage(done)?.toSteps).toBe(4);
  });

  it('a looser budget goes on to one step and says why it stopped', () => {
    const done = run(recorded, { ...rule, budget: 4 });
    expect(done).toHaveLength(5);
    expect(done[4]?.decision).toMatchObject({ metBudget: true, proceed: false });
    expect(done[4]?.decision.reason).toBe(
      'stage 5 (2 -> 1 step): FD 3.65x reference <= 4x; reached --min-steps 1',
    );
    expect(keptStage(done)?.toSteps).toBe(1);
    const over = run(recorded, { ...rule, budget: 2 });
    expect(over.at(-1)?.decision.reason).toBe('stage 5 (2 -> 1 step): FD 3.65x reference > 2x');
  });

  it('stops at --min-steps even when the budget would allow more', () => {
    const done = run(recorded, { ...rule, budget: 10, minSteps: 4 });
    expect(done.map((s) => s.toSteps)).toEqual([16, 8, 4]);
    expect(done.at(-1)?.decision.reason).toMatch(/reached --min-steps 4$/);
  });

  it('a first stage over budget keeps nothing; a NaN FD never meets the budget', () => {
    const done = run([{ ...recorded[0], fd: 3.3 } as StageResult]);
    expect(done[0]?.decision.reason).toBe('stage 1 (32 -> 16 steps): FD 1.32x reference > 1.3x');
    expect(keptStage(done)).toBeUndefined();
    expect(decideStage({ ...(recorded[0] as StageResult), fd: Number.NaN }, rule).metBudget).toBe(
      false,
    );
    expect(() => decideStage(recorded[0] as StageResult, { ...rule, referenceFd: 0 })).toThrow(
      /reference FD/,
    );
  });

  it('the budget boundary is inclusive', () => {
    expect(decideStage({ ...(recorded[0] as StageResult), fd: 2.5 * 1.3 }, rule).metBudget).toBe(
      true,
    );
  });
});
