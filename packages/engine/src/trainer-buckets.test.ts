import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, materialize } from '@anneal/datasets/shards';
import { beforeAll, describe, expect, it } from 'vitest';
import { Model, presetUNet, type StepReport, Trainer, type TrainingBucket } from './index.ts';
import { trainerWeights, weightDiff } from './testing/weights.ts';

// Issue 16 §1-2: one run over batches of more than one shape. Shapes at 8 and 16 px, the tiny
// preset cut to two levels (sides must be even), the model created at the final resolution.
const home = mkdtempSync(join(tmpdir(), 'anneal-buckets-'));
let at8: TrainingBucket;
let at16: TrainingBucket;
let at16Shards: string[];

async function shapes(resolution: number, count: number): Promise<string[]> {
  const m = await materialize(
    { kind: 'builtin', name: 'shapes', options: { count, heldOut: 20, seed: 3 } },
    { resolution, home },
  );
  return m.manifest.splits.train.shards.map((s) => join(m.dir, s.file));
}

beforeAll(async () => {
  at8 = { shards: await shapes(8, 120), height: 8, width: 8 };
  at16Shards = await shapes(16, 60);
  at16 = { shards: at16Shards, height: 16, width: 16 };
});

const config = () => ({
  unet: {
    ...presetUNet('tiny', { resolution: 16, channels: 3, numClasses: 5 }),
    block_out_channels: [16, 32],
  },
  parameterization: 'eps' as const,
});

// A progressive run: steps 0-3 at 8 px, 4-7 at 16 px.
const progressive = () =>
  Trainer.create({
    model: Model.create(config(), 7),
    buckets: [at8, at16],
    stages: [
      { endStep: 4, buckets: [0] },
      { endStep: 8, buckets: [1] },
    ],
    numClasses: 5,
    batch: 8,
    totalSteps: 8,
    lr: 1e-3,
    warmup: 2,
    seed: 1,
  });

async function run(t: Trainer, n: number): Promise<StepReport[]> {
  const out: StepReport[] = [];
  for await (const r of t.run(n)) out.push(r);
  return out;
}

function output(t: Trainer): number[] {
  const m = t.ema();
  try {
    return Array.from(
      m.native.forward(
        new Float32Array(16 * 16 * 3).fill(0.25),
        [1, 16, 16, 3],
        new Float32Array([300]),
        new Int32Array([2]),
      ),
    );
  } finally {
    m.dispose();
  }
}

function stateMetadata(dir: string): Record<string, string> {
  return decodeSafetensors(readFileSync(join(dir, 'trainer-state.safetensors'))).metadata;
}

describe('progressive resolution', () => {
  it('trains each stage at its resolution, low to high, one stage after the other', async () => {
    const reports = await run(progressive(), 8);
    expect(reports.map((r) => [r.step, r.stage, r.height, r.width, r.batch])).toEqual([
      [1, 0, 8, 8, 8],
      [2, 0, 8, 8, 8],
      [3, 0, 8, 8, 8],
      [4, 0, 8, 8, 8],
      [5, 1, 16, 16, 8],
      [6, 1, 16, 16, 8],
      [7, 1, 16, 16, 8],
      [8, 1, 16, 16, 8],
    ]);
    for (const r of reports) expect(Number.isFinite(r.loss)).toBe(true);
  });

  // Resumed and uninterrupted runs take the same ops on the same inputs in the same order (the
  // step's key is a function of (seed, step), each bucket's order of (seed, bucket, epoch), and
  // the stage of the step), so on one machine they agree bit for bit, as the single-resolution
  // resume test already requires; no tolerance is needed.
  it.each([
    ['at the stage boundary', 4],
    ['mid-stage', 6],
  ])('resumes exactly %s', async (_, k) => {
    const straight = progressive();
    const full = await run(straight, 8);
    const dir = mkdtempSync(join(tmpdir(), 'anneal-progressive-resume-'));
    const first = progressive();
    await run(first, k);
    first.saveCheckpoint(dir, first.model.config);
    const meta = stateMetadata(dir);
    expect(meta.stage).toBe(k < 4 ? '0' : '1');
    expect(meta.buckets).toBe('8x8/8,16x16/8');
    expect(meta.stages).toBe('4:0;8:1');
    const second = progressive();
    second.resume(dir);
    expect(second.step).toBe(k);
    const rest = await run(second, 8 - k);
    expect(rest.map((r) => [r.loss, r.gradNorm, r.stage, r.height])).toEqual(
      full.slice(k).map((r) => [r.loss, r.gradNorm, r.stage, r.height]),
    );
    expect(output(second)).toEqual(output(straight));
  });

  it('refuses to resume across different stages or buckets, naming both runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-progressive-refuse-'));
    const first = progressive();
    await run(first, 2);
    first.saveCheckpoint(dir, first.model.config);
    const otherStages = Trainer.create({
      model: Model.create(config(), 7),
      buckets: [at8, at16],
      stages: [
        { endStep: 2, buckets: [0] },
        { endStep: 8, buckets: [1] },
      ],
      numClasses: 5,
      batch: 8,
      totalSteps: 8,
      seed: 1,
    });
    expect(() => otherStages.resume(dir)).toThrow(
      /buckets 8x8\/8,16x16\/8 and stages 4:0;8:1; this run has buckets 8x8\/8,16x16\/8 and stages 2:0;8:1/,
    );
    const single = Trainer.create({
      model: Model.create(config(), 7),
      shards: at16Shards,
      numClasses: 5,
      batch: 8,
      totalSteps: 8,
      seed: 1,
    });
    expect(() => single.resume(dir)).toThrow(/this run has buckets one resolution, one stage/);
    // And the other way round: a single-resolution state does not resume into stages.
    const singleDir = mkdtempSync(join(tmpdir(), 'anneal-single-state-'));
    await run(single, 1);
    single.saveCheckpoint(singleDir, single.model.config);
    expect(() => progressive().resume(singleDir)).toThrow(
      /written by a run with buckets one resolution, one stage/,
    );
  });

  it('writes a single-resolution state with exactly the metadata fields it always had', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-single-meta-'));
    const single = Trainer.create({
      model: Model.create(config(), 7),
      shards: at16Shards,
      numClasses: 5,
      batch: 8,
      totalSteps: 8,
      seed: 1,
    });
    const reports = await run(single, 2);
    expect(reports.map((r) => [r.stage, r.bucket, r.height, r.batch])).toEqual([
      [0, 0, 16, 8],
      [0, 0, 16, 8],
    ]);
    single.saveCheckpoint(dir, single.model.config);
    expect(Object.keys(stateMetadata(dir)).sort()).toEqual(
      ['epoch', 'format', 'lr_scale', 'objective', 'position', 'rollbacks', 'seed', 'step'].sort(),
    );
  });
});

describe('multi-resolution buckets', () => {
  it('draws each batch from one bucket with its own batch; both buckets, the same draws for the same seed', async () => {
    const make = () =>
      Trainer.create({
        model: Model.create(config(), 7),
        // 100 images at 8 px, 40 at 16 px (held-out 20 of each).
        buckets: [at8, { ...at16, batch: 4 }],
        numClasses: 5,
        batch: 8,
        totalSteps: 40,
        seed: 5,
      });
    const reports = await run(make(), 40);
    const drawn = [0, 0];
    for (const r of reports) {
      drawn[r.bucket] = (drawn[r.bucket] ?? 0) + 1;
      expect([r.height, r.batch]).toEqual(r.bucket === 0 ? [8, 8] : [16, 4]);
    }
    // Both are drawn; each step draws bucket 1 with probability 40/140, so 40 steps draw it
    // 11.4 times on average (sd 2.9); 0 or 40 would mean the draw ignores the sizes.
    expect(drawn[0]).toBeGreaterThan(0);
    expect(drawn[1]).toBeGreaterThan(0);
    // The same seed draws the same buckets (a pure function of (seed, step)).
    expect((await run(make(), 40)).map((r) => r.bucket)).toEqual(reports.map((r) => r.bucket));
  });

  it('checks every bucket against the memory budget before it starts, naming the bucket', () => {
    expect(() =>
      Trainer.create({
        model: Model.create(config(), 7),
        buckets: [at8, at16],
        numClasses: 5,
        batch: 8,
        totalSteps: 4,
        budget: { bytes: 1 << 20, source: 'test' },
      }),
    ).toThrow(/the 8x8 bucket \(batch 8\): /);
  });

  it('resumes a multi-resolution state exactly, with more total steps too', async () => {
    const make = (totalSteps: number) =>
      Trainer.create({
        model: Model.create(config(), 7),
        buckets: [at8, at16],
        numClasses: 5,
        batch: 8,
        totalSteps,
        lrSchedule: 'constant',
        warmup: 0,
        seed: 3,
      });
    const straight = make(6);
    const full = await run(straight, 6);
    const dir = mkdtempSync(join(tmpdir(), 'anneal-multi-resume-'));
    const first = make(6);
    await run(first, 3);
    first.saveCheckpoint(dir, first.model.config);
    expect(stateMetadata(dir).stages).toBe('end:0+1');
    // A constant LR does not depend on the total, so a longer run continues identically.
    const longer = make(10);
    longer.resume(dir);
    const rest = await run(longer, 3);
    expect(rest.map((r) => [r.loss, r.bucket])).toEqual(
      full.slice(3).map((r) => [r.loss, r.bucket]),
    );
    expect(output(longer)).toEqual(output(straight));
  });

  it('refuses a stage that names no bucket and a bucket whose sides the U-Net cannot halve', async () => {
    expect(() =>
      Trainer.create({
        model: Model.create(config(), 7),
        buckets: [at8],
        stages: [{ endStep: 4, buckets: [1] }],
        numClasses: 5,
        batch: 8,
        totalSteps: 4,
      }),
    ).toThrow(/options\.stages\[0\]\.buckets: 1.* is not a bucket index/);
    const odd = await shapes(9, 40);
    expect(() =>
      Trainer.create({
        model: Model.create(config(), 7),
        buckets: [{ shards: odd, height: 9, width: 9 }],
        numClasses: 5,
        batch: 8,
        totalSteps: 4,
      }),
    ).toThrow(/the 9x9 bucket \(batch 8\): .*9x9.*multiples of 2\^\(levels-1\) = 2/);
  });
});

// Accumulation per bucket (the batch planner's answer for each shape): a bucket whose batch
// is split into micro-batches trains exactly as the whole batch would, up to summation order
// (the tolerances of accumulation.test.ts, which says why they hold).
describe('gradient accumulation per bucket', () => {
  const LR = 1e-3;
  const STEPS = 4;
  const make = (k16: number, dropout = 0) =>
    Trainer.create({
      model: Model.create({ ...config(), unet: { ...config().unet, dropout } }, 7),
      // Steps 0-1 at 8 px (whole batches), 2-3 at 16 px (k16 micro-batches).
      buckets: [at8, { ...at16, accumulationSteps: k16 }],
      stages: [
        { endStep: 2, buckets: [0] },
        { endStep: 4, buckets: [1] },
      ],
      numClasses: 5,
      batch: 8,
      totalSteps: STEPS,
      lr: LR,
      warmup: 0,
      seed: 3,
    });

  const paramDiff = (a: Trainer, b: Trainer) =>
    weightDiff(trainerWeights(a, home), trainerWeights(b, home), 1e-3 * LR);

  it('a bucketed run with 2 micro-batches on its 16 px bucket equals the run with whole batches', async () => {
    const whole = make(1);
    const split = make(2);
    const a = await run(whole, STEPS);
    const b = await run(split, STEPS);
    expect(b.map((r) => [r.bucket, r.height, r.batch])).toEqual([
      [0, 8, 8],
      [0, 8, 8],
      [1, 16, 8],
      [1, 16, 8],
    ]);
    expect(a.map((r) => r.bucket)).toEqual(b.map((r) => r.bucket));
    for (const [i, r] of a.entries()) {
      const s = b[i] as StepReport;
      expect(Math.abs(s.loss - r.loss)).toBeLessThanOrEqual(1e-5 * r.loss);
      expect(Math.abs(s.gradNorm - r.gradNorm)).toBeLessThanOrEqual(1e-5 * r.gradNorm);
    }
    const d = paramDiff(whole, split);
    expect(d.max).toBeLessThanOrEqual(STEPS * 0.05 * LR);
    expect(d.share).toBeLessThanOrEqual(0.01);
    // A control: the whole run one step short (the last 16 px step missing) is far outside
    // the tolerance.
    const short = make(1);
    await run(short, STEPS - 1);
    expect(paramDiff(short, split).share).toBeGreaterThan(0.5);
  }, 120_000);

  it('applies the micro-batches to their bucket only (seen through U-Net dropout)', async () => {
    // Dropout masks are drawn at the micro-batch's shape (objective.h, BatchRows::dropout_key),
    // so with dropout the split changes the 16 px steps and nothing else: the 8 px steps are
    // identical, the 16 px ones differ. Without the bucket's steps applied they would be equal.
    const a = await run(make(1, 0.5), STEPS);
    const b = await run(make(2, 0.5), STEPS);
    expect(b.slice(0, 2).map((r) => r.loss)).toEqual(a.slice(0, 2).map((r) => r.loss));
    expect(b[2]?.loss).not.toBe(a[2]?.loss);
  }, 120_000);

  it("refuses a bucket's accumulation steps that do not divide its batch, naming the bucket", () => {
    expect(() => make(3)).toThrow(/bucket 1 \(16x16\).*divisor of its batch 8, got 3/);
  });
});
