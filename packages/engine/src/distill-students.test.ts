// Distillation students with real U-Nets (native/src/engine/distill): the consistency
// boundary condition and init, progressive copies and conversions, and the progressive grids
// (issue 12, unit tests). The trainer with a teacher: distill-trainer.test.ts; closed-form
// checks: distill-closed-form.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  consistencySigmas,
  halveGrid,
  Model,
  progressiveGrid,
  Trainer,
  trainingMemorySpec,
} from './index.ts';
import { GRID, tinyShapesShards, vConfig } from './testing/distill-fixtures.ts';

let shards: string[] = [];
beforeAll(async () => {
  shards = await tinyShapesShards();
});

describe('students', () => {
  it('a consistency student is the identity at sigma_min through a real U-Net: f(x, sigma_min) = x', async () => {
    const teacher = Model.create(vConfig(), 11);
    const student = Model.studentOf(teacher, { kind: 'consistency' });
    const { sigmaMin } = teacher.sigmaRange();
    expect(student.config.consistency).toEqual({ inner: 'v', sigma_min: sigmaMin });
    expect(student.sigmaRange().sigmaMin).toBe(sigmaMin);
    const n = 4;
    const noise = Float32Array.from({ length: n * 8 * 8 * 3 }, (_, i) => Math.sin(i * 0.37) * 2);
    // One consistency step at sigma_min: x = sigma_min z, then f(x, sigma_min), unclipped.
    const r = await student.sample({
      sampler: 'consistency',
      n,
      sigmas: [sigmaMin],
      noise,
      clipDenoised: false,
      returnValues: true,
    });
    const sm = Math.fround(sigmaMin);
    expect(Array.from(r.values ?? [])).toEqual(Array.from(noise, (z) => Math.fround(z * sm)));
    // Above sigma_min the network matters: the same step at 2 sigma_min is not the identity.
    const above = await student.sample({
      sampler: 'consistency',
      n,
      sigmas: [2 * sigmaMin],
      noise,
      clipDenoised: false,
      returnValues: true,
    });
    const moved = Array.from(above.values ?? []).some(
      (v, i) => v !== Math.fround((noise[i] ?? 0) * Math.fround(2 * sigmaMin)),
    );
    expect(moved).toBe(true);
    student.dispose();
    teacher.dispose();
  });

  it("at init f(x, sigma) is the teacher's DDIM jump to sigma_min: f - D = (sigma_min / sigma)(x - D)", async () => {
    const teacher = Model.create(vConfig(), 11);
    const student = Model.studentOf(teacher, { kind: 'consistency' });
    const { sigmaMin, sigmaMax } = teacher.sigmaRange();
    const n = 4;
    const noise = Float32Array.from({ length: n * 8 * 8 * 3 }, (_, i) => Math.sin(i * 0.37) * 2);
    const common = { n, noise, clipDenoised: false, returnValues: true };
    for (const sigma of [sigmaMax, 1, 0.1, 2 * sigmaMin]) {
      // One consistency step: f(sigma z, sigma); one DDIM step to 0: the teacher's D(sigma z, sigma).
      const f = (await student.sample({ ...common, sampler: 'consistency', sigmas: [sigma] }))
        .values;
      const d = (await teacher.sample({ ...common, sampler: 'ddim', sigmas: [sigma] })).values;
      const r = sigmaMin / sigma;
      let compared = 0;
      for (let i = 0; i < noise.length; i++) {
        const x = (noise[i] ?? 0) * sigma;
        const di = d?.[i] ?? Number.NaN;
        const fi = f?.[i] ?? Number.NaN;
        // Samples come back clipped to [-1, 1]: compare where neither was clipped.
        if (Math.abs(di) === 1 || Math.abs(fi) === 1) continue;
        compared++;
        // float32: the folded c_skip x + c_out F and the teacher's own c_skip x + c_out F each
        // round to a few ulps of |x| + |D| (measured max 1.1e-7): relative 1e-5 is far above
        // that and far below the old scalings' error (f = 0.6 D at the top, 0.27 x + 0.51 D at
        // 1) or a dropped r (x - D) term (1e-2 here).
        const tol = 1e-5 * (1 + Math.abs(x) + Math.abs(di));
        expect(Math.abs(fi - di - r * (x - di)), `sigma ${sigma}, element ${i}`).toBeLessThan(tol);
      }
      // Measured: 651 to 768 of 768 unclipped.
      expect(compared).toBeGreaterThan(noise.length / 2);
    }
    student.dispose();
    teacher.dispose();
  });

  it('samples one and two consistency steps, counting one network evaluation per step', async () => {
    const teacher = Model.create(vConfig(), 11);
    const student = Model.studentOf(teacher, { kind: 'consistency' });
    for (const steps of [1, 2]) {
      const r = await student.sample({ sampler: 'consistency', steps, n: 3, seed: 0 });
      expect(r.nfe).toBe(steps);
      expect(r.steps).toBe(steps);
      expect(r.nonFinite).toBe(0);
    }
    student.dispose();
    teacher.dispose();
  });

  it('a progressive student of an eps teacher reads its weights as v; an eps student is refused, saying why', () => {
    const teacher = Model.create({ ...vConfig(), parameterization: 'eps' }, 11);
    const student = Model.studentOf(teacher, { kind: 'progressive' });
    expect(student.config).toEqual({ ...teacher.config, parameterization: 'v' });
    const x = new Float32Array(8 * 8 * 3).fill(0.3);
    const forward = (m: Model) =>
      Array.from(m.native.forward(x, [1, 8, 8, 3], Float32Array.of(500), Int32Array.of(1)));
    expect(forward(student)).toEqual(forward(teacher));
    const copy = teacher.clone();
    expect(copy.config).toEqual(teacher.config);
    expect(() =>
      Trainer.create({
        model: copy,
        shards,
        numClasses: 5,
        batch: 8,
        totalSteps: 4,
        objective: { kind: 'progressive', teacher, sigmas: GRID },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        message: expect.stringMatching(/not eps.*section 4/s),
      }),
    );
    copy.dispose();
    student.dispose();
    teacher.dispose();
  });

  it('a progressive student of an EDM teacher is an EDM copy; reading it as v or x0 is refused', () => {
    const teacher = Model.create({ ...vConfig(), parameterization: 'edm' }, 11);
    const student = Model.studentOf(teacher, { kind: 'progressive' });
    expect(student.config).toEqual(teacher.config);
    for (const parameterization of ['v', 'x0'] as const)
      expect(() => Model.studentOf(teacher, { kind: 'progressive', parameterization })).toThrow(
        expect.objectContaining({
          code: 'BAD_REQUEST',
          message: expect.stringMatching(
            `EDM teacher's network cannot be read as ${parameterization}`,
          ),
        }),
      );
    student.dispose();
    teacher.dispose();
  });

  it('proposes Karras sigmas inside the teacher range', () => {
    const teacher = Model.create(vConfig(), 11);
    const sig = consistencySigmas(teacher);
    const { sigmaMin, sigmaMax } = teacher.sigmaRange();
    expect(sig).toHaveLength(18);
    // The ends exactly: the objective requires the last sigma to be the student's sigma_min.
    expect(sig[0]).toBe(sigmaMax);
    expect(sig[17]).toBe(sigmaMin);
    const student = Model.studentOf(teacher, { kind: 'consistency' });
    expect(student.config.consistency?.sigma_min).toBe(sig[17]);
    student.dispose();
    for (let i = 1; i < sig.length; i++) expect(sig[i] ?? 0).toBeLessThan(sig[i - 1] ?? 0);
    teacher.dispose();
  });
});

describe('progressive grids', () => {
  it("the first stage's grid is the teacher's DDIM schedule; each stage halves it", () => {
    const teacher = Model.create(vConfig(), 11);
    const grid = progressiveGrid(teacher, 32);
    expect(grid).toHaveLength(33);
    expect(grid[0]).toBeCloseTo(teacher.sigmaRange().sigmaMax, 6);
    expect(grid[32]).toBe(0);
    const half = halveGrid(grid);
    expect(half).toEqual(grid.filter((_, i) => i % 2 === 0));
    expect(halveGrid(halveGrid(halveGrid(halveGrid(half))))).toEqual([grid[0], 0]);
    expect(() => halveGrid([grid[0] ?? 1, 0])).toThrow(/2N \+ 1/);
    expect(() => progressiveGrid(teacher, 3)).toThrow(/even/);
    // The teacher's weights count against the memory budget.
    const student = teacher.clone();
    const alone = trainingMemorySpec(student, 8).activationBytesPerExample;
    const withTeacher = trainingMemorySpec(
      student,
      8,
      'float32',
      teacher,
    ).activationBytesPerExample;
    expect(withTeacher - alone).toBe(Math.ceil((teacher.parameterCount() * 4) / 8));
    student.dispose();
    teacher.dispose();
  });
});
