// Output-level knowledge distillation into a student of another architecture (BK-SDM;
// native/src/engine/distill/output.h) and weight inheritance (Model.inheritFrom): the task term
// is the denoising loss exactly, a student equal to its teacher has no kd term, a smaller
// student moves towards its teacher, bad pairs are refused, and inheritance copies exactly the
// tensors the two U-Nets share (and, narrowing, the teacher's channels a pruned student kept).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '@anneal/datasets/shards';
import { beforeAll, describe, expect, it } from 'vitest';
import { Model, Trainer, type TrainerOptions } from './index.ts';
import { runSteps, tinyShapesShards, vConfig } from './testing/distill-fixtures.ts';

let shards: string[] = [];
beforeAll(async () => {
  shards = await tinyShapesShards();
});

/** vConfig's U-Net (8x8, 5 classes, v) with other levels: widths and attention per level. */
const unetOf = (widths: number[], attention: boolean[], over: Record<string, unknown> = {}) => ({
  ...vConfig(),
  unet: {
    ...vConfig().unet,
    block_out_channels: widths,
    down_block_types: attention.map((a) => (a ? 'AttnDownBlock2D' : 'DownBlock2D')),
    up_block_types: [...attention].reverse().map((a) => (a ? 'AttnUpBlock2D' : 'UpBlock2D')),
    ...over,
  },
});
/** The teacher's U-Net ([16, 32], attention at 4x4) at half the width, attention at 8x8. */
const smallConfig = () => unetOf([8, 16], [true, false]);

const trainer = (
  model: Model,
  objective: TrainerOptions['objective'],
  over: Partial<TrainerOptions> = {},
) =>
  Trainer.create({
    model,
    shards,
    numClasses: 5,
    batch: 8,
    totalSteps: 30,
    lr: 2e-3,
    warmup: 2,
    seed: 1,
    objective,
    ...over,
  });

/** Step losses of `steps` steps from a fresh student (config, seed) under `objective`. */
async function losses(
  config: ReturnType<typeof vConfig>,
  seed: number,
  objective: TrainerOptions['objective'],
  steps: number,
  over: Partial<TrainerOptions> = {},
) {
  const student = Model.create(config, seed);
  const out = await runSteps(trainer(student, objective, over), steps);
  student.dispose();
  return out;
}

describe('the task term is the denoising loss', () => {
  for (const lossWeighting of ['none', 'min-snr'] as const) {
    it(`outputWeight 0: every step's loss is the denoising trainer's (${lossWeighting})`, async () => {
      const teacher = Model.create(vConfig(), 11);
      const over = { lossWeighting, cfgDropout: 0.5 };
      const denoising = await losses(smallConfig(), 5, { kind: 'denoising' }, 3, over);
      const distilled = await losses(
        smallConfig(),
        5,
        { kind: 'output-distillation', teacher, outputWeight: 0 },
        3,
        over,
      );
      // Exact: the same draws (denoising_draws), the same task graph, and 0 * kd adds exact
      // zeros to the loss and to every gradient, so the weights stay bit-identical too.
      expect(distilled).toEqual(denoising);
      teacher.dispose();
    });
  }

  it('a student that is a copy of its teacher has no kd term at its first step', async () => {
    const teacher = Model.create(vConfig(), 11);
    const first = async (student: Model, outputWeight: number) => {
      const [loss] = await runSteps(
        trainer(student, { kind: 'output-distillation', teacher, outputWeight }),
        1,
      );
      student.dispose();
      return loss ?? Number.NaN;
    };
    const without = await first(teacher.clone(), 0);
    const copy = await first(teacher.clone(), 1);
    // The copy's kd target (c_skip x + c_out F - c_skip x) / c_out is its own output F up to
    // float32 rounding (relative ~1e-7 per element), so kd is ~1e-14 of the loss: relative
    // 1e-6 is far above that and far below the kd of any other network (next).
    expect(Math.abs(copy - without)).toBeLessThan(1e-6 * without);
    const other = await first(Model.create(vConfig(), 12), 1);
    const otherWithout = await first(Model.create(vConfig(), 12), 0);
    expect(other - otherWithout).toBeGreaterThan(0.05 * otherWithout);
    teacher.dispose();
  });
});

describe('a smaller student of another architecture', () => {
  it("moves towards its teacher's outputs", async () => {
    const teacher = Model.create(vConfig(), 11);
    // Fixed network inputs: x ~ U(-1.7, 1.7) (about unit variance, as c_in x), timesteps
    // across the table, every class and the null class. Teacher and student are v models on
    // one schedule, so their network outputs share units: this is the kd term's distance.
    const B = 8;
    const x = Float32Array.from(
      { length: B * 8 * 8 * 3 },
      (_, i) => 1.7 * Math.sin(i * 1.37 + 0.5),
    );
    const t = Float32Array.from([20, 100, 250, 400, 550, 700, 850, 990]);
    const labels = Int32Array.from([0, 1, 2, 3, 4, 5, 0, 1]);
    const forward = (m: Model) => m.native.forward(x, [B, 8, 8, 3], t, labels);
    const target = forward(teacher);
    const distance = (m: Model) => {
      const f = forward(m);
      let e = 0;
      for (let i = 0; i < f.length; i++) e += ((f[i] ?? 0) - (target[i] ?? 0)) ** 2;
      return e / f.length;
    };
    const student = Model.create(smallConfig(), 5);
    const before = distance(student);
    const t1 = trainer(student, { kind: 'output-distillation', teacher });
    // The trainer holds the teacher's weights itself.
    teacher.dispose();
    const steps = await runSteps(t1, 30);
    const trained = t1.raw();
    const after = distance(trained);
    // Measured: 0.209 -> 0.124 after 30 steps; the same student trained by denoising alone,
    // which pulls towards the data and not towards this random teacher, moves away (0.232).
    expect(after).toBeLessThan(0.8 * before);
    expect(steps.every(Number.isFinite)).toBe(true);
    trained.dispose();
    student.dispose();
  });
});

describe('refusals name the problem', () => {
  const refused = (student: Model, objective: TrainerOptions['objective'], message: RegExp) => {
    expect(() => trainer(student, objective)).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(message) }),
    );
  };

  it('a teacher of another sample size or class count', () => {
    const student = Model.create(smallConfig(), 5);
    const at16 = Model.create(unetOf([16, 32], [false, true], { sample_size: 16 }), 11);
    refused(
      student,
      { kind: 'output-distillation', teacher: at16 },
      /differ in sample_size \(teacher 16, student 8\)/,
    );
    const classes = Model.create(unetOf([16, 32], [false, true], { num_class_embeds: 4 }), 11);
    refused(
      student,
      { kind: 'output-distillation', teacher: classes },
      /differ in num_class_embeds \(teacher 4, student 6\)/,
    );
    for (const m of [student, at16, classes]) m.dispose();
  });

  it('a negative, NaN or infinite outputWeight', () => {
    const teacher = Model.create(vConfig(), 11);
    const student = Model.create(smallConfig(), 5);
    for (const [outputWeight, shown] of [
      [-0.5, '-0.5'],
      [Number.NaN, '-?nan'],
      [Number.POSITIVE_INFINITY, 'inf'],
    ] as const)
      refused(
        student,
        { kind: 'output-distillation', teacher, outputWeight },
        new RegExp(`output weight ${shown} must be finite and >= 0`),
      );
    teacher.dispose();
    student.dispose();
  });

  it('a consistency student or teacher', () => {
    const teacher = Model.create(vConfig(), 11);
    const consistency = Model.studentOf(teacher, { kind: 'consistency' });
    refused(
      consistency,
      { kind: 'output-distillation', teacher },
      /output distillation needs a diffusion-model student.*not a consistency model/,
    );
    refused(
      teacher,
      { kind: 'output-distillation', teacher: consistency },
      /the teacher is a consistency model/,
    );
    consistency.dispose();
    teacher.dispose();
  });
});

describe('resume checks the output weight', () => {
  it('a state of outputWeight 1 resumes at 1 and is refused at 0.5', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-distill-output-'));
    const teacher = Model.create(vConfig(), 11);
    const student = Model.create(smallConfig(), 5);
    const first = trainer(student, { kind: 'output-distillation', teacher });
    await runSteps(first, 1);
    first.saveCheckpoint(dir, student.config);
    const same = trainer(student, { kind: 'output-distillation', teacher, outputWeight: 1 });
    same.resume(dir);
    expect(same.step).toBe(1);
    const other = trainer(student, { kind: 'output-distillation', teacher, outputWeight: 0.5 });
    expect(() => other.resume(dir)).toThrow(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        message: expect.stringMatching(
          /output-distillation objective differs in its options \(state: output_weight=1 loss_weighting=none, this run: output_weight=0.5 loss_weighting=none\)/,
        ),
      }),
    );
    teacher.dispose();
    student.dispose();
  });
});

describe('Model.inheritFrom', () => {
  /** A model's tensors by name: shape and raw bytes (saved and read back). */
  const tensors = (m: Model) => {
    const file = join(mkdtempSync(join(tmpdir(), 'anneal-inherit-')), 'model.safetensors');
    m.native.save(file);
    return new Map(decodeSafetensors(readFileSync(file)).tensors);
  };
  // Three levels, attention at 4x4 and 2x2.
  const teacherConfig = () => unetOf([16, 32, 32], [false, true, true]);

  for (const [what, config] of [
    ['one fewer level', () => unetOf([16, 32], [false, true])],
    ['a narrower middle level', () => unetOf([16, 16, 32], [false, true, true])],
  ] as const) {
    it(`${what}: copies exactly the tensors of the teacher's names and shapes`, () => {
      const teacher = Model.create(teacherConfig(), 11);
      const student = Model.create(config(), 5);
      const own = tensors(student);
      const theirs = tensors(teacher);
      const shared = [...own].filter(([name, t]) => {
        const u = theirs.get(name);
        return u !== undefined && u.shape.join(',') === t.shape.join(',');
      });
      const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
      const counts = student.inheritFrom(teacher);
      teacher.dispose();
      expect(counts).toEqual({
        copied: shared.length,
        narrowed: 0,
        total: own.size,
        copiedParameters: shared.reduce((n, [, t]) => n + size(t.shape), 0),
        totalParameters: student.parameterCount(),
      });
      expect(counts.copied).toBeGreaterThan(0);
      expect(counts.copied).toBeLessThan(counts.total);
      // Shared tensors hold the teacher's bytes, the rest the student's own.
      const after = tensors(student);
      const names = new Set(shared.map(([name]) => name));
      for (const [name, t] of after) {
        const source = (names.has(name) ? theirs : own).get(name)?.data ?? new Uint8Array();
        expect(Buffer.compare(t.data, source), name).toBe(0);
      }
      student.dispose();
    });
  }

  it('a student of the same architecture becomes the teacher, after the teacher is gone', () => {
    const teacher = Model.create(vConfig(), 11);
    const student = Model.create(vConfig(), 5);
    const x = Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.cos(i * 0.7));
    const run = (m: Model) =>
      m.native.forward(x, [2, 8, 8, 3], Float32Array.of(30, 700), Int32Array.of(1, 5));
    const expected = run(teacher);
    expect(run(student)).not.toEqual(expected);
    const counts = student.inheritFrom(teacher);
    expect(counts.copied).toBe(counts.total);
    expect(counts.copiedParameters).toBe(teacher.parameterCount());
    teacher.dispose();
    expect(run(student)).toEqual(expected);
    student.dispose();
  });

  /** A model of `config` holding `weights` (a checkpoint written and loaded back). */
  const withWeights = (config: ReturnType<typeof unetOf>, weights: Map<string, Tensor>) => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-inherit-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors([...weights]));
    return Model.load(dir);
  };
  const x = Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.cos(i * 0.7));
  const run = (m: Model) =>
    m.native.forward(x, [2, 8, 8, 3], Float32Array.of(30, 700), Int32Array.of(1, 4));

  it('narrow: a half-width student computes its teacher exactly when the rest of the teacher is idle', () => {
    // The teacher at [16, 16] with the channels an [8, 8] student lacks made idle: every layer's
    // outputs past the student's width are zero (weights, biases, norms; the class embedding's
    // columns), and the time embedding ignores the frequencies the student lacks. At half the
    // width the student's sinusoids exp(-ln(1e4) i / 4) are the teacher's even ones,
    // exp(-ln(1e4) 2i / 8), cosines then sines. Group sizes are kept (half the groups; every
    // part of a concatenation is a whole number of groups at these widths), so each group norm
    // sees the same channels. The student then computes the same function, only if each layer
    // reads the channels its producer kept: each part of an up block's [input, skip], whole
    // heads (2 of 8 channels in the teacher, 1 kept), the time embedding's width and
    // frequencies.
    const teacherConfig = unetOf([16, 16], [false, true]);
    const groups = teacherConfig.unet.norm_num_groups;
    const studentConfig = unetOf([8, 8], [false, true], { norm_num_groups: groups / 2 });
    const student = Model.create(studentConfig, 5);
    const own = tensors(student);
    const idle = new Map<string, Tensor>();
    for (const [name, t] of tensors(Model.create(teacherConfig, 11))) {
      const values = new Float32Array(Uint8Array.from(t.data).buffer);
      const kept = own.get(name)?.shape ?? t.shape;
      const outAxis = name === 'class_embedding.weight' ? 1 : 0;
      const dims = t.shape;
      const stride = (axis: number) => dims.slice(axis + 1).reduce((p, d) => p * d, 1);
      for (let i = 0; i < values.length; i++) {
        const at = (axis: number) => Math.floor(i / stride(axis)) % (dims[axis] ?? 1);
        const frequency = at(1) % ((dims[1] ?? 2) / 2);
        if (at(outAxis) >= (kept[outAxis] ?? 0)) values[i] = 0;
        if (name === 'time_embedding.linear_1.weight' && frequency % 2 === 1) values[i] = 0;
      }
      idle.set(name, { ...t, data: new Uint8Array(values.buffer) });
    }
    const teacher = withWeights(teacherConfig, idle);
    const expected = run(teacher);

    const counts = student.inheritFrom(teacher, { narrow: true });
    expect(counts.narrowed).toBeGreaterThan(0);
    expect(counts.copied + counts.narrowed).toBe(counts.total);
    expect(counts.copiedParameters).toBe(counts.totalParameters);
    const got = run(student);
    // float32 sums over other channel counts round differently (BLAS blocks by width): the
    // bound is relative to the output's scale, far above float32's 1.2e-7 per operation
    // through a network this deep, far below what one misread channel does.
    const scale = Math.max(...expected.map(Math.abs));
    const off = (a: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - (expected[i] ?? 0))));
    const worst = off(got);
    expect(worst / scale).toBeLessThan(1e-4);

    // Without narrowing, the narrower tensors keep their own initialization.
    const exact = Model.create(studentConfig, 5);
    expect(exact.inheritFrom(teacher).narrowed).toBe(0);
    const other = run(exact);
    expect(off(other) / scale).toBeGreaterThan(1e-2);
    for (const m of [teacher, student, exact]) m.dispose();
  });

  it('narrow: a student with one fewer level takes each up block from the teacher at its level', () => {
    const teacher = Model.create(unetOf([16, 32, 32], [false, true, true]), 11);
    const student = Model.create(unetOf([16, 32], [false, true]), 5);
    student.inheritFrom(teacher, { narrow: true });
    const theirs = tensors(teacher);
    const after = tensors(student);
    // Up blocks count from the deepest level: the student's up_blocks.0 is the teacher's
    // up_blocks.1 (both at 4x4, 32 channels); its up_blocks.1, the teacher's up_blocks.2.
    for (const [mine, level] of [
      ['up_blocks.0.resnets.1.conv2.weight', 'up_blocks.1.resnets.1.conv2.weight'],
      ['up_blocks.0.attentions.0.to_q.weight', 'up_blocks.1.attentions.0.to_q.weight'],
      ['up_blocks.1.resnets.0.conv2.weight', 'up_blocks.2.resnets.0.conv2.weight'],
      ['down_blocks.1.resnets.0.conv1.weight', 'down_blocks.1.resnets.0.conv1.weight'],
    ] as const) {
      const t = theirs.get(level);
      expect(after.get(mine)?.shape, mine).toEqual(t?.shape);
      expect(
        Buffer.compare(after.get(mine)?.data ?? new Uint8Array(), t?.data ?? new Uint8Array()),
        mine,
      ).toBe(0);
    }
    teacher.dispose();
    student.dispose();
  });

  it('refuses a teacher of other channels or classes', () => {
    const student = Model.create(vConfig(), 5);
    const gray = Model.create(
      unetOf([16, 32], [false, true], { in_channels: 1, out_channels: 1 }),
      11,
    );
    expect(() => student.inheritFrom(gray)).toThrow(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        message: expect.stringMatching(/differ in in_channels \(teacher 1, student 3\)/),
      }),
    );
    const classes = Model.create(unetOf([16, 32], [false, true], { num_class_embeds: 4 }), 11);
    expect(() => student.inheritFrom(classes)).toThrow(
      /differ in num_class_embeds \(teacher 4, student 6\)/,
    );
    for (const m of [student, gray, classes]) m.dispose();
  });
});
