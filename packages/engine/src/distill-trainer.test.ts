// The trainer with a distillation teacher and real U-Nets (native/src/engine/distill):
// compiled = uncompiled, the weighting, exact resume and its identity checks, and tiny
// progressive and consistency-distillation stages that learn (issue 12, unit tests).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { consistencySigmas, halveGrid, Model, TRAINER_STATE_FILE, Trainer } from './index.ts';
import {
  type DistillKind,
  distiller as distillerOn,
  runSteps,
  tinyShapesShards,
  vConfig,
} from './testing/distill-fixtures.ts';

let shards: string[] = [];
beforeAll(async () => {
  shards = await tinyShapesShards();
});
const distiller = (kind: DistillKind, opts?: Parameters<typeof distillerOn>[2]) =>
  distillerOn(kind, shards, opts);

describe('the trainer with a teacher', () => {
  for (const kind of ['progressive', 'consistency-distillation', 'consistency-training'] as const) {
    it(`${kind}: compiled and uncompiled steps agree`, async () => {
      const a = await runSteps(distiller(kind, { compile: true }), 3);
      const b = await runSteps(distiller(kind, { compile: false }), 3);
      // Compilation fuses elementwise ops (different float32 rounding), nothing more; relative
      // 1e-4 is far above that and far below what a different computation would give.
      for (const [i, l] of a.entries())
        expect(Math.abs(l - (b[i] ?? Number.NaN)) / Math.abs(l)).toBeLessThan(1e-4);
    });

    it(`${kind}: resumes exactly (k steps, save, resume, n - k steps = n steps)`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'anneal-distill-resume-'));
      const full = await runSteps(distiller(kind), 6);
      const first = distiller(kind);
      await runSteps(first, 3);
      first.saveCheckpoint(dir, first.model.config);
      const resumed = async () => {
        const t = distiller(kind);
        t.resume(dir);
        expect(t.step).toBe(3);
        return runSteps(t, 3);
      };
      const a = await resumed();
      const b = await resumed();
      expect(a).toEqual(full.slice(3));
      expect(b).toEqual(a);
      // The saved student loads with its own config (the consistency block included).
      const saved = Model.load(dir);
      expect(saved.config.parameterization).toBe(kind === 'progressive' ? 'v' : 'consistency');
      saved.dispose();
    });
  }
});

describe("the trainer's step-1 loss follows the weighting", () => {
  // A one-step grid fixes sigma_t for every example, so with the same seed (same draws, same
  // student) the two weightings' step-1 losses differ by exactly their weights' ratio:
  // sigma_t 2: max(1/4, 1) = 1 vs 1/4 + 1 = 1.25; sigma_t 0.8: 1.5625 vs 2.5625.
  for (const [grid, ratio] of [
    [[2, 0.6, 0], 1.25],
    [[0.8, 0.3, 0], 2.5625 / 1.5625],
  ] as const) {
    it(`sigma_t ${grid[0]}: snr+1 / truncated-snr = ${ratio.toFixed(4)}`, async () => {
      const first = async (weighting: 'truncated-snr' | 'snr+1') => {
        const teacher = Model.create(vConfig(), 11);
        const t = Trainer.create({
          model: Model.studentOf(teacher, { kind: 'progressive' }),
          shards,
          numClasses: 5,
          batch: 8,
          totalSteps: 4,
          seed: 1,
          objective: { kind: 'progressive', teacher, sigmas: [...grid], weighting },
        });
        teacher.dispose();
        return (await runSteps(t, 1))[0] ?? Number.NaN;
      };
      const truncated = await first('truncated-snr');
      const snr1 = await first('snr+1');
      // The same float32 losses scaled by a float32 weight: relative 1e-5 covers the rounding;
      // a wrong weight is off by >= 10%.
      expect(Math.abs(snr1 / truncated - ratio)).toBeLessThan(1e-5 * ratio);
    });
  }
});

describe('resume checks the objective (a state is only resumed by the run that wrote it)', () => {
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anneal-distill-identity-'));
    const t = distiller('progressive');
    await runSteps(t, 1);
    t.saveCheckpoint(dir, t.model.config);
  });
  const refused = (t: Trainer, message: RegExp) =>
    expect(() => t.resume(dir)).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(message) }),
    );

  it('the same teacher, grid and options resume', () => {
    const t = distiller('progressive');
    t.resume(dir);
    expect(t.step).toBe(1);
  });

  it('another teacher, grid, weighting or objective is refused, naming what differs', () => {
    refused(
      distiller('progressive', { teacherSeed: 12 }),
      /objective differs in its teacher \(state: [0-9a-f]{16}, this run: [0-9a-f]{16}\).*same teacher/,
    );
    refused(
      distiller('progressive', { grid: [20, 5, 2, 0.6, 0] }),
      /objective differs in its sigmas/,
    );
    refused(
      distiller('progressive', { weighting: 'snr+1' }),
      /differs in its options \(state: weighting=truncated-snr, this run: weighting=snr\+1\)/,
    );
    refused(
      distiller('consistency-distillation'),
      /written by a progressive trainer; this trainer's objective is consistency-distillation/,
    );
    const student = Model.create(vConfig(), 11);
    const denoising = Trainer.create({
      model: student,
      shards,
      numClasses: 5,
      batch: 8,
      totalSteps: 4,
      seed: 1,
    });
    refused(denoising, /written by a progressive trainer; this trainer's objective is denoising/);
    student.dispose();
  });

  it('a state with no recorded objective (earlier builds) resumes into denoising only', async () => {
    const student = Model.create(vConfig(), 11);
    const make = () =>
      Trainer.create({ model: student, shards, numClasses: 5, batch: 8, totalSteps: 4, seed: 1 });
    const old = mkdtempSync(join(tmpdir(), 'anneal-distill-old-state-'));
    const t = make();
    await runSteps(t, 1);
    t.saveCheckpoint(old, student.config);
    // Drop the objective fields from the safetensors metadata, as states written before them.
    const path = join(old, TRAINER_STATE_FILE);
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__.objective).toBe('denoising');
    for (const k of Object.keys(header.__metadata__))
      if (k.startsWith('objective')) delete header.__metadata__[k];
    // Pad with spaces to the same length so the data offsets stay put.
    const text = JSON.stringify(header).padEnd(n, ' ');
    writeFileSync(
      path,
      Buffer.concat([bytes.subarray(0, 8), Buffer.from(text), bytes.subarray(8 + n)]),
    );
    const resumed = make();
    resumed.resume(old);
    expect(resumed.step).toBe(1);
    const pd = distiller('progressive');
    expect(() => pd.resume(old)).toThrow(/records no objective.*objective is progressive/);
    student.dispose();
  });
});

describe('a tiny progressive stage', () => {
  // One student step (2 -> 0 against the teacher's 2 -> 0.6 -> 0), and two on a 5-point grid
  // (20 -> 2 -> 0 against 20 -> 6 -> 2 -> 0.6 -> 0), which exercises the grid indexing: a
  // student trained on the wrong pairs does not approach the teacher's four steps.
  for (const grid of [
    [2, 0.6, 0],
    [20, 6, 2, 0.6, 0],
  ]) {
    it(`lowers the student's ${(grid.length - 1) / 2}-step error against the teacher's ${grid.length - 1} steps`, async () => {
      const teacher = Model.create(vConfig(), 11);
      const student = Model.studentOf(teacher, { kind: 'progressive' });
      const n = 16;
      const noise = Float32Array.from({ length: n * 8 * 8 * 3 }, (_, i) =>
        Math.sin(i * 1.37 + 0.5),
      );
      const common = {
        sampler: 'ddim' as const,
        n,
        noise,
        clipDenoised: false,
        returnValues: true,
      };
      const target = (await teacher.sample({ ...common, sigmas: grid.slice(0, -1) })).values ?? [];
      const error = async (m: Model) => {
        const few =
          (await m.sample({ ...common, sigmas: halveGrid(grid).slice(0, -1) })).values ?? [];
        let e = 0;
        for (let i = 0; i < few.length; i++) e += ((few[i] ?? 0) - (target[i] ?? 0)) ** 2;
        return e / few.length;
      };
      const before = await error(student);
      const trainer = Trainer.create({
        model: student,
        shards,
        numClasses: 5,
        batch: 16,
        totalSteps: 60,
        lr: 2e-3,
        warmup: 5,
        seed: 2,
        cfgDropout: 0,
        emaDecay: 0,
        objective: { kind: 'progressive', teacher, sigmas: grid },
      });
      const losses = await runSteps(trainer, 60);
      const trained = trainer.raw();
      const after = await error(trained);
      // Measured after 60 steps: one step 0.0303 -> 0.0182, two steps 0.0358 -> 0.0238. A
      // student that did not learn stays at `before`.
      expect(after).toBeLessThan(before * 0.8);
      expect(losses.every(Number.isFinite)).toBe(true);
      trained.dispose();
      student.dispose();
      teacher.dispose();
    });
  }
});

describe('a tiny consistency-distillation stage', () => {
  it("lowers the student's one-step error against the teacher's Heun ODE solution", async () => {
    const teacher = Model.create(vConfig(), 11);
    const student = Model.studentOf(teacher, { kind: 'consistency' });
    // N = 10 Karras sigmas over the table, the 5 at or below 5 (3.65 .. 0.01): a short range
    // a tiny model can learn to jump in one step within a few dozen iterations.
    const sigmas = consistencySigmas(teacher, 10).filter((x) => x <= 5);
    const n = 16;
    const noise = Float32Array.from({ length: n * 8 * 8 * 3 }, (_, i) => Math.sin(i * 1.37 + 0.5));
    const common = { n, noise, clipDenoised: false, returnValues: true };
    const ode = (await teacher.sample({ ...common, sampler: 'heun', sigmas })).values ?? [];
    const error = async (m: Model) => {
      const one =
        (await m.sample({ ...common, sampler: 'consistency', sigmas: [sigmas[0] ?? 0] })).values ??
        [];
      let e = 0;
      for (let i = 0; i < one.length; i++) e += ((one[i] ?? 0) - (ode[i] ?? 0)) ** 2;
      return e / one.length;
    };
    const before = await error(student);
    const trainer = Trainer.create({
      model: student,
      shards,
      numClasses: 5,
      batch: 16,
      totalSteps: 80,
      lr: 1e-3,
      warmup: 5,
      seed: 2,
      cfgDropout: 0,
      emaDecay: 0,
      objective: { kind: 'consistency-distillation', teacher, sigmas },
    });
    const losses = await runSteps(trainer, 80);
    const trained = trainer.raw();
    const after = await error(trained);
    // Measured: 0.248 before (the student starts as the teacher's one DDIM step), 0.101 after
    // 80 steps. A student that did not learn stays put.
    expect(after).toBeLessThan(before * 0.7);
    expect(losses.every(Number.isFinite)).toBe(true);
    trained.dispose();
    student.dispose();
    teacher.dispose();
  });
});
