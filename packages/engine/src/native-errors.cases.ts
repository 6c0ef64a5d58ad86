// Bad calls into every native binding, each with the error code it must produce. Run by
// native-errors.child.ts in a child process (see native-errors.test.ts for why).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, type Tensor } from '@anneal/datasets/shards';
import { presetUNet } from './config/presets.ts';
import type {
  NativeAddon,
  NativeErrorCode,
  NativeExtractorConfig,
  NativeExtractorTraining,
  NativeModel,
  NativeTrainer,
} from './native-types.ts';

/** Files and objects the cases share, made once per child process. */
export interface Fixtures {
  dir: string;
  config: { unet: Record<string, unknown>; parameterization: 'eps' };
  model: NativeModel;
  disposed: NativeModel;
  trainer: NativeTrainer;
  shard: string;
  /** The state `trainer` (seed 1) saved. */
  state: string;
  missing: string;
  garbage: string;
  truncated: string;
  noImages: string;
  wrongDtype: string;
  wrongSize: string;
  otherWeights: string;
  unwritable: string;
}

export interface ErrorCase {
  name: string;
  /** sync: the call itself throws; async: it returns a promise that rejects. */
  mode: 'sync' | 'async';
  code: NativeErrorCode;
  /** The message must match, so a case cannot pass on an unrelated failure. */
  message: RegExp;
  call: (native: NativeAddon, f: Fixtures) => unknown;
}

const RES = 8;

function u8(shape: number[], fill = 0): Tensor {
  return { dtype: 'U8', shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1)).fill(fill) };
}

function i32(values: number[]): Tensor {
  return {
    dtype: 'I32',
    shape: [values.length],
    data: new Uint8Array(Int32Array.from(values).buffer),
  };
}

/**
 * A copy of the safetensors file `path` with `changes` in its `__metadata__` (a crafted or
 * damaged trainer state): the header is rewritten, the tensor bytes after it kept.
 */
function withMetadata(path: string, out: string, changes: Record<string, string>): string {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  header.__metadata__ = { ...header.__metadata__, ...changes };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.byteLength));
  writeFileSync(out, Buffer.concat([prefix, json, bytes.subarray(8 + length)]));
  return out;
}

/** Loads `f.state` with `changes` to its metadata into `f.trainer`. */
function loadCrafted(f: Fixtures, name: string, changes: Record<string, string>) {
  return f.trainer.loadState(withMetadata(f.state, join(f.dir, `${name}.safetensors`), changes));
}

export function makeFixtures(native: NativeAddon, dir: string): Fixtures {
  mkdirSync(dir, { recursive: true });
  const file = (name: string, bytes: Uint8Array | string) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const shard = file(
    'shard.safetensors',
    encodeSafetensors([
      ['images', u8([16, RES, RES, 1], 128)],
      ['labels', i32(new Array(16).fill(0))],
    ]),
  );
  const whole = encodeSafetensors([['images', u8([16, RES, RES, 1], 7)]]);
  const config = {
    unet: { ...presetUNet('tiny', { resolution: RES, channels: 1 }), block_out_channels: [16, 32] },
    parameterization: 'eps' as const,
  };
  const model = new native.Model(config, { seed: 1 });
  const disposed = new native.Model(config, { seed: 1 });
  disposed.dispose();
  const other = new native.Model(
    { ...config, unet: { ...config.unet, block_out_channels: [32, 32] } },
    { seed: 1 },
  );
  const otherWeights = join(dir, 'other.safetensors');
  other.save(otherWeights);
  other.dispose();
  const trainer = new native.Trainer(model, {
    batchSize: 4,
    totalSteps: 10,
    shards: [shard],
    seed: 1,
    compile: false,
  });
  const state = join(dir, 'state.safetensors');
  trainer.saveState(state);
  return {
    dir,
    config,
    model,
    disposed,
    trainer,
    shard,
    state,
    missing: join(dir, 'missing.safetensors'),
    garbage: file('garbage.safetensors', 'this is not a safetensors file at all'),
    truncated: file('truncated.safetensors', whole.subarray(0, whole.byteLength - 100)),
    noImages: file('no-images.safetensors', encodeSafetensors([['labels', i32([0, 1])]])),
    wrongDtype: file(
      'wrong-dtype.safetensors',
      encodeSafetensors([
        [
          'images',
          { dtype: 'F32', shape: [16, RES, RES, 1], data: new Uint8Array(16 * RES * RES * 4) },
        ],
      ]),
    ),
    wrongSize: file('wrong-size.safetensors', encodeSafetensors([['images', u8([16, 16, 16, 1])]])),
    otherWeights,
    unwritable: join(dir, 'no-such-dir', 'out.safetensors'),
  };
}

const gaussian = (over: Record<string, unknown> = {}) => ({
  dim: 2,
  mean: new Float32Array(2),
  eigvecs: new Float32Array([1, 0, 0, 1]),
  eigvals: new Float32Array([1, 1]),
  sampler: 'euler',
  steps: 4,
  n: 8,
  ...over,
});

const extractorConfig: NativeExtractorConfig = {
  kind: 'classifier',
  resolution: RES,
  inChannels: 1,
  channels: [8, 16],
  featureDim: 16,
  groups: 4,
  numClasses: 2,
};

const training: NativeExtractorTraining = {
  steps: 1,
  batchSize: 4,
  lr: 1e-3,
  warmupSteps: 0,
  weightDecay: 0,
  gradClip: 1,
  noise: 0,
  seed: 0,
};

const sample = { sampler: 'euler', steps: 2, n: 1, seed: 0 };
/** A 3-NFE Euler learn on 2 images against a 4-step reference, and a record that fits it. */
const learn = { sampler: 'euler', nfe: 3, n: 2, reference: { sampler: 'heun', steps: 4 } };
const record = (n: NativeAddon, f: Fixtures) => ({
  // The grid the learn's reference takes: Karras over its 4 steps from the model's top sigma.
  grid: n.sampling.sigmas({ steps: 4, schedule: 'karras', ...f.model.sigmaRange() }),
  cost: new Float64Array(4 * 5),
  trainEnd: new Float32Array(2 * RES * RES),
  heldoutEnd: new Float32Array(2 * RES * RES),
});
const trainerOptions = (f: Fixtures, over: Record<string, unknown> = {}) => ({
  batchSize: 4,
  totalSteps: 10,
  shards: [f.shard],
  compile: false,
  ...over,
});
const x1 = () => new Float32Array(RES * RES);

// Distillation (issue 12): a v student of the fixture's eps teacher, a consistency student,
// and a trainer with an objective; each bad call must throw a coded error, never abort.
const vStudent = (n: NativeAddon, f: Fixtures) =>
  new n.Model({ ...f.config, parameterization: 'v' }, { seed: 1 });
const consistencyStudent = (f: Fixtures, sigmaMin = 0.01) =>
  f.model.derive({
    ...f.config,
    parameterization: 'consistency',
    consistency: { inner: 'eps', sigma_min: sigmaMin },
  });
const pd = (
  n: NativeAddon,
  f: Fixtures,
  over: Record<string, unknown> = {},
  student?: NativeModel,
) =>
  new n.Trainer(
    student ?? vStudent(n, f),
    trainerOptions(f, {
      objective: { kind: 'progressive', teacher: f.model, sigmas: [20, 6, 2, 0.6, 0], ...over },
    }),
  );
const cd = (
  n: NativeAddon,
  f: Fixtures,
  over: Record<string, unknown> = {},
  student?: NativeModel,
) =>
  new n.Trainer(
    student ?? consistencyStudent(f, 0.6),
    trainerOptions(f, {
      objective: {
        kind: 'consistency-distillation',
        teacher: f.model,
        sigmas: [20, 6, 2, 0.6],
        ...over,
      },
    }),
  );
const gaussianTeacher = (over: Record<string, unknown> = {}) => ({
  config: { parameterization: 'v' },
  dim: 2,
  mean: new Float32Array(2),
  eigvecs: Float32Array.of(1, 0, 0, 1),
  eigvals: Float32Array.of(1, 1),
  n: 1,
  x: new Float32Array(2),
  ...over,
});

const BAD = 'ANNEAL_INVALID_ARGUMENT' as const;

export const CASES: ErrorCase[] = [
  // hardware
  {
    name: 'hardware.parseApple: sysctl text not a string',
    mode: 'sync',
    code: BAD,
    message: /sysctlText must be a string/,
    call: (n) => n.hardware.parseApple(5 as unknown as string, {}),
  },
  {
    name: 'hardware.parseApple: device value an object',
    mode: 'sync',
    code: BAD,
    message: /deviceInfo\.x must be a string or a number/,
    call: (n) => n.hardware.parseApple('', { x: {} as unknown as string }),
  },
  // memory
  {
    name: 'memory.defaultBudget: NaN fraction',
    mode: 'sync',
    code: BAD,
    message: /fraction must be in \(0, 1\]/,
    call: (n) => n.memory.defaultBudget(Number.NaN),
  },
  {
    name: 'memory.defaultBudget: fraction above 1',
    mode: 'sync',
    code: BAD,
    message: /fraction must be in/,
    call: (n) => n.memory.defaultBudget(2),
  },
  {
    name: 'memory.estimate: negative parameter count',
    mode: 'sync',
    code: BAD,
    message: /spec\.parameterCount must be >= 0/,
    call: (n) => n.memory.estimate({ parameterCount: -1 }),
  },
  {
    name: 'memory.estimate: NaN batch',
    mode: 'sync',
    code: BAD,
    message: /spec\.batchSize must be >= 1/,
    call: (n) => n.memory.estimate({ parameterCount: 10, batchSize: Number.NaN }),
  },
  {
    name: 'memory.estimate: absurd batch',
    mode: 'sync',
    code: BAD,
    message: /spec\.batchSize must be <= 2\^53/,
    call: (n) => n.memory.estimate({ parameterCount: 10, batchSize: 1e300 }),
  },
  {
    name: 'memory.estimate: spec not an object',
    mode: 'sync',
    code: BAD,
    message: /spec must be an object/,
    call: (n) => n.memory.estimate(null as unknown as { parameterCount: number }),
  },
  {
    name: 'memory.assertFits: over budget',
    mode: 'sync',
    code: 'ANNEAL_MEMORY_BUDGET',
    message: /exceeds the budget/,
    call: (n) => n.memory.assertFits({ parameterCount: 1e6 }, { bytes: 1024, source: 'test' }),
  },
  {
    name: 'memory.assertFits: over budget with accumulation names the micro-batch and its remedy',
    mode: 'sync',
    code: 'ANNEAL_MEMORY_BUDGET',
    message:
      /activations .* at micro-batch 4 \(2 accumulation steps, effective batch 8\).*; use a smaller micro-batch \(more accumulation steps\)/,
    call: (n) =>
      n.memory.assertFits(
        { parameterCount: 1e6, batchSize: 4, accumulationSteps: 2, activationBytesPerExample: 1e6 },
        { bytes: 1024, source: 'test' },
      ),
  },
  {
    name: 'memory.assertFits: zero budget',
    mode: 'sync',
    code: BAD,
    message: /budget\.bytes must be >= 1/,
    call: (n) => n.memory.assertFits({ parameterCount: 1 }, { bytes: 0, source: 'test' }),
  },
  {
    name: 'memory.applyLimits: negative budget',
    mode: 'sync',
    code: BAD,
    message: /budget\.bytes must be >= 1/,
    call: (n) => n.memory.applyLimits({ bytes: -5, source: 'test' }),
  },
  {
    name: 'memory.checkPeak: peak over a 1-byte budget',
    mode: 'sync',
    code: 'ANNEAL_MEMORY_BUDGET',
    message: /peak memory .* exceeded the memory budget/,
    call: (n) => n.memory.checkPeak({ bytes: 1, source: 'test' }, 3),
  },
  {
    name: 'memory.checkPeak: step not a number',
    mode: 'sync',
    code: BAD,
    message: /step must be a number/,
    call: (n) => n.memory.checkPeak({ bytes: 1e12, source: 'test' }, 'x' as unknown as number),
  },
  // throughput
  {
    name: 'throughput.matmul: negative n',
    mode: 'sync',
    code: BAD,
    message: /options\.n must be >= 1/,
    call: (n) => n.throughput.matmul({ n: -1 }),
  },
  {
    name: 'throughput.matmul: n past int range',
    mode: 'sync',
    code: BAD,
    message: /options\.n must be <= 2147483647/,
    call: (n) => n.throughput.matmul({ n: 1e12 }),
  },
  {
    name: 'throughput.conv: NaN iterations',
    mode: 'sync',
    code: BAD,
    message: /options\.iterations must be >= 1/,
    call: (n) => n.throughput.conv({ iterations: Number.NaN }),
  },
  {
    name: 'throughput.conv: zero kernel',
    mode: 'sync',
    code: BAD,
    message: /options\.kernel must be >= 1/,
    call: (n) => n.throughput.conv({ kernel: 0 }),
  },
  // ops
  {
    name: 'ops.matmul: not a Float32Array',
    mode: 'sync',
    code: BAD,
    message: /a must be a Float32Array/,
    call: (n) => n.ops.matmul([1] as unknown as Float32Array, [1, 1], new Float32Array(1), [1, 1]),
  },
  {
    name: 'ops.matmul: NaN shape',
    mode: 'sync',
    code: BAD,
    message: /aShape does not match/,
    call: (n) => n.ops.matmul(new Float32Array(4), [Number.NaN, 2], new Float32Array(4), [2, 2]),
  },
  {
    name: 'ops.matmul: inner dimensions differ',
    mode: 'sync',
    code: BAD,
    message: /a's columns \(2\) must equal b's rows \(3\)/,
    call: (n) => n.ops.matmul(new Float32Array(4), [2, 2], new Float32Array(3), [3, 1]),
  },
  // sampling.sigmas
  {
    name: 'sampling.sigmas: negative steps',
    mode: 'sync',
    code: BAD,
    message: /options\.steps must be >= 1/,
    call: (n) => n.sampling.sigmas({ steps: -3, schedule: 'karras' }),
  },
  {
    name: 'sampling.sigmas: unknown schedule',
    mode: 'sync',
    code: BAD,
    message: /unknown schedule "nope"/,
    call: (n) => n.sampling.sigmas({ steps: 3, schedule: 'nope' }),
  },
  {
    name: 'sampling.sigmas: inverted karras range',
    mode: 'sync',
    code: BAD,
    message: /sigma_min < sigma_max/,
    call: (n) => n.sampling.sigmas({ steps: 3, schedule: 'karras', sigmaMin: 10, sigmaMax: 1 }),
  },
  {
    name: 'sampling.sigmas: NaN sigmaMax',
    mode: 'sync',
    code: BAD,
    message: /options\.sigmaMax must be a number|options\.sigmaMax must be >=/,
    call: (n) => n.sampling.sigmas({ steps: 3, schedule: 'exponential', sigmaMax: Number.NaN }),
  },
  {
    name: 'sampling.sigmas: explicit with a string',
    mode: 'sync',
    code: BAD,
    message: /options\.sigmas must be an array of numbers/,
    call: (n) =>
      n.sampling.sigmas({ steps: 3, schedule: 'explicit', sigmas: ['a' as unknown as number] }),
  },
  {
    name: 'sampling.sigmas: explicit increasing',
    mode: 'sync',
    code: BAD,
    message: /decreas/,
    call: (n) => n.sampling.sigmas({ steps: 3, schedule: 'explicit', sigmas: [1, 2, 0] }),
  },
  {
    name: 'sampling.sigmas: bad VP config',
    mode: 'sync',
    code: BAD,
    message: /config\.parameterization/,
    call: (n) => n.sampling.sigmas({ steps: 3, schedule: 'uniform' }, { parameterization: 'nope' }),
  },
  // sampling.gaussian
  {
    name: 'sampling.gaussian: inverted sigma range (issue 10)',
    mode: 'sync',
    code: BAD,
    message: /sigma_min < sigma_max/,
    call: (n) => n.sampling.gaussian(gaussian({ sigmaMax: 0.001, sigmaMin: 1 })),
  },
  {
    name: 'sampling.gaussian: NaN eta',
    mode: 'sync',
    code: BAD,
    message: /options\.eta must be >= 0/,
    call: (n) => n.sampling.gaussian(gaussian({ eta: Number.NaN })),
  },
  {
    name: 'sampling.gaussian: negative n',
    mode: 'sync',
    code: BAD,
    message: /options\.n must be >= 1/,
    call: (n) => n.sampling.gaussian(gaussian({ n: -5 })),
  },
  {
    name: 'sampling.gaussian: mean of the wrong length',
    mode: 'sync',
    code: BAD,
    message: /mean has 3 elements, the shape needs 2/,
    call: (n) => n.sampling.gaussian(gaussian({ mean: new Float32Array(3) })),
  },
  {
    name: 'sampling.gaussian: unknown sampler',
    mode: 'sync',
    code: BAD,
    message: /options\.sampler/,
    call: (n) => n.sampling.gaussian(gaussian({ sampler: 'nope' })),
  },
  {
    name: 'sampling.gaussian: zero steps',
    mode: 'sync',
    code: BAD,
    message: /options\.steps must be >= 1/,
    call: (n) => n.sampling.gaussian(gaussian({ steps: 0 })),
  },
  // denoiser
  {
    name: 'denoiser.scalings: sigma not a Float32Array',
    mode: 'sync',
    code: BAD,
    message: /sigma must be a Float32Array/,
    call: (n, f) => n.denoiser.scalings(f.config, [1] as unknown as Float32Array),
  },
  {
    name: 'denoiser.minSnrWeight: an EDM model',
    mode: 'sync',
    code: BAD,
    message: /EDM's loss carries its own weighting/,
    call: (n) => n.denoiser.minSnrWeight({ parameterization: 'edm' }, new Float32Array([1]), 5),
  },
  {
    name: 'denoiser.scalings: unknown parameterization',
    mode: 'sync',
    code: BAD,
    message: /config\.parameterization/,
    call: (n) => n.denoiser.scalings({ parameterization: 'nope' }, new Float32Array(1)),
  },
  {
    name: 'denoiser.target: sigma of the wrong length',
    mode: 'sync',
    code: BAD,
    message: /sigma has 3 elements, the shape needs 2/,
    call: (n, f) =>
      n.denoiser.target(
        f.config,
        new Float32Array(2),
        new Float32Array(2),
        new Float32Array(3),
        [2, 1, 1, 1],
      ),
  },
  {
    name: 'denoiser.target: consistency has none',
    mode: 'sync',
    code: BAD,
    message: /consistency/,
    call: (n) =>
      n.denoiser.target(
        { parameterization: 'consistency' },
        new Float32Array(1),
        new Float32Array(1),
        new Float32Array(1),
        [1, 1, 1, 1],
      ),
  },
  {
    name: 'denoiser.denoise: zero in the shape',
    mode: 'sync',
    code: BAD,
    message: /shape must be \[B, H, W, C\] of positive integers/,
    call: (n, f) =>
      n.denoiser.denoise(
        f.config,
        new Float32Array(0),
        new Float32Array(0),
        new Float32Array(0),
        [0, 1, 1, 1],
      ),
  },
  // Model
  {
    name: 'new Model: config without unet',
    mode: 'sync',
    code: BAD,
    message: /config\.unet must be an object/,
    call: (n) => new n.Model({}),
  },
  {
    name: 'new Model: inconsistent unet',
    mode: 'sync',
    code: BAD,
    message: /block/,
    call: (n, f) =>
      new n.Model({ ...f.config, unet: { ...f.config.unet, down_block_types: ['DownBlock2D'] } }),
  },
  {
    name: 'new Model: unknown parameterization',
    mode: 'sync',
    code: BAD,
    message: /config\.parameterization/,
    call: (n, f) => new n.Model({ ...f.config, parameterization: 'nope' }),
  },
  {
    name: 'new Model: negative seed',
    mode: 'sync',
    code: BAD,
    message: /options\.seed must be >= 0/,
    call: (n, f) => new n.Model(f.config, { seed: -1 }),
  },
  {
    name: 'new Model: weights not a string',
    mode: 'sync',
    code: BAD,
    message: /options\.weights must be a string/,
    call: (n, f) => new n.Model(f.config, { weights: 5 as unknown as string }),
  },
  {
    name: 'new Model: missing weights',
    mode: 'sync',
    code: 'ANNEAL_NOT_FOUND',
    message: /no such checkpoint: .*missing\.safetensors/,
    call: (n, f) => new n.Model(f.config, { weights: f.missing }),
  },
  {
    name: 'new Model: corrupt weights',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /garbage\.safetensors is not a readable safetensors file/,
    call: (n, f) => new n.Model(f.config, { weights: f.garbage }),
  },
  {
    name: 'new Model: truncated weights',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /truncated\.safetensors is not a readable safetensors file/,
    call: (n, f) => new n.Model(f.config, { weights: f.truncated }),
  },
  {
    name: 'new Model: weights are a directory',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /is a directory/,
    call: (n, f) => new n.Model(f.config, { weights: f.dir }),
  },
  {
    name: 'new Model: weights of another config',
    mode: 'sync',
    code: BAD,
    message: /shape|expects|has/,
    call: (n, f) => new n.Model(f.config, { weights: f.otherWeights }),
  },
  // Model methods
  {
    name: 'model.forward: x of the wrong length',
    mode: 'sync',
    code: BAD,
    message: /x has 3 elements/,
    call: (_, f) => f.model.forward(new Float32Array(3), [1, RES, RES, 1], new Float32Array(1)),
  },
  {
    name: 'model.forward: negative batch',
    mode: 'sync',
    code: BAD,
    message: /shape must be \[B, H, W, C\] of positive integers/,
    call: (_, f) => f.model.forward(x1(), [-1, RES, RES, 1], new Float32Array(1)),
  },
  {
    name: 'model.forward: wrong channel count',
    mode: 'sync',
    code: BAD,
    message: /shape\[3\] must be the model's 1 input channels/,
    call: (_, f) =>
      f.model.forward(new Float32Array(RES * RES * 3), [1, RES, RES, 3], new Float32Array(1)),
  },
  {
    name: 'model.forward: odd spatial size',
    mode: 'sync',
    code: BAD,
    message: /./,
    call: (_, f) => f.model.forward(new Float32Array(7 * 7), [1, 7, 7, 1], new Float32Array(1)),
  },
  {
    name: 'model.forward: labels of the wrong type',
    mode: 'sync',
    code: BAD,
    message: /labels must be an Int32Array/,
    call: (_, f) =>
      f.model.forward(
        x1(),
        [1, RES, RES, 1],
        new Float32Array(1),
        new Float32Array(1) as unknown as Int32Array,
      ),
  },
  {
    name: 'model.forward: options not an object',
    mode: 'sync',
    code: BAD,
    message: /^options must be an object$/,
    call: (_, f) =>
      f.model.forward(x1(), [1, RES, RES, 1], new Float32Array(1), undefined, 5 as never),
  },
  {
    name: 'attention.run: kind not a string',
    mode: 'sync',
    code: BAD,
    message: /^options\.kind must be a string$/,
    call: (n) => n.attention.run({ batch: 1, heads: 1, tokens: 4, headDim: 2, kind: 5 as never }),
  },
  {
    name: 'attention.run: negative seed',
    mode: 'sync',
    code: BAD,
    message: /^options\.seed must be >= 0$/,
    call: (n) =>
      n.attention.run({ batch: 1, heads: 1, tokens: 4, headDim: 2, kind: 'fused', seed: -1 }),
  },
  {
    name: 'model.save: into a missing directory',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /cannot write .*no-such-dir/,
    call: (_, f) => f.model.save(f.unwritable),
  },
  {
    name: 'model.measureStep: zero batch',
    mode: 'sync',
    code: BAD,
    message: /options\.batch must be >= 1/,
    call: (_, f) => f.model.measureStep({ batch: 0, steps: 1 }),
  },
  {
    name: 'model.sample: unknown sampler',
    mode: 'sync',
    code: BAD,
    message: /spec\.sampler/,
    call: (_, f) => f.model.sample({ ...sample, sampler: 'nope' }),
  },
  {
    name: 'model.sample: negative n',
    mode: 'sync',
    code: BAD,
    message: /spec\.n must be >= 1/,
    call: (_, f) => f.model.sample({ ...sample, n: -1 }),
  },
  // Schedule learning's reference record and checkpoint (engine/schedule_learn.h)
  {
    name: 'model.learnSchedule: a reference record whose costs are not a Float64Array',
    mode: 'sync',
    code: BAD,
    message: /spec\.knownReference\.cost must be a Float64Array/,
    call: (n, f) =>
      f.model.learnSchedule({ ...learn, knownReference: { ...record(n, f), cost: [0] as never } }),
  },
  {
    name: 'model.learnSchedule: a reference record of another reference length',
    mode: 'async',
    code: BAD,
    message: /the reference record holds 3 jump costs; a 4-step reference has 20/,
    call: (n, f) =>
      f.model.learnSchedule({
        ...learn,
        knownReference: { ...record(n, f), cost: new Float64Array(3) },
      }).result,
  },
  {
    name: 'model.learnSchedule: a reference record of another grid',
    mode: 'async',
    code: BAD,
    message: /the reference record was made on another grid \(4 steps from sigma 2\.0+ to/,
    call: (n, f) =>
      f.model.learnSchedule({
        ...learn,
        knownReference: { ...record(n, f), grid: [2, 1, 0.5, 0.25, 0] },
      }).result,
  },
  {
    name: 'model.learnSchedule: a reference record of another batch',
    mode: 'async',
    code: BAD,
    message: /calibration endpoint holds 2 values; this batch has 128/,
    call: (n, f) =>
      f.model.learnSchedule({
        ...learn,
        knownReference: { ...record(n, f), trainEnd: new Float32Array(2) },
      }).result,
  },
  {
    name: 'model.learnSchedule: a checkpoint of another step count',
    mode: 'async',
    code: BAD,
    message: /the checkpoint holds a schedule of 2 sigmas/,
    call: (n, f) =>
      f.model.learnSchedule({
        ...learn,
        knownReference: record(n, f),
        resume: {
          ...{ dpSigmas: [1, 0], best: [1, 0], baselineTrain: 1, dpTrain: 1, bestError: 1 },
          ...{ sweep: 0, k: 1, move: 0.5, done: 0, evaluations: 2 },
        },
      }).result,
  },
  {
    name: 'model.learnSchedule: a checkpoint missing a field',
    mode: 'sync',
    code: BAD,
    message: /spec\.resume\.bestError must be a finite number >= 0/,
    call: (n, f) =>
      f.model.learnSchedule({
        ...learn,
        knownReference: record(n, f),
        resume: {
          ...{ dpSigmas: [1, 0.5, 0.2, 0], best: [1, 0.5, 0.2, 0], baselineTrain: 1, dpTrain: 1 },
          ...{ sweep: 0, k: 1, move: 0.5, done: 0, evaluations: 2 },
        } as never,
      }),
  },
  {
    name: 'model.scheduleSigmas: an unknown sampler',
    mode: 'sync',
    code: BAD,
    message: /unknown sampler/,
    call: (_, f) => f.model.scheduleSigmas({ sampler: 'nope', steps: 3 }),
  },
  {
    name: 'model.sample: increasing explicit sigmas',
    mode: 'async',
    code: BAD,
    message: /decreas/,
    call: (_, f) => f.model.sample({ ...sample, sigmas: [1, 5, 0] }),
  },
  {
    name: 'model.sample: the consistency sampler on a diffusion model',
    mode: 'async',
    code: BAD,
    message: /consistency sampler needs a consistency model/,
    call: (_, f) => f.model.sample({ ...sample, sampler: 'consistency' }),
  },
  {
    name: 'model.sample: a diffusion sampler on a consistency model',
    mode: 'async',
    code: BAD,
    message: /consistency model samples with the consistency sampler only/,
    call: (_, f) => consistencyStudent(f).sample({ ...sample, sampler: 'heun' }),
  },
  {
    name: 'model.sample: guidance on a consistency model',
    mode: 'async',
    code: BAD,
    message: /guidance is not supported for consistency models/,
    call: (n, f) =>
      new n.Model(
        {
          ...f.config,
          unet: { ...f.config.unet, num_class_embeds: 3 },
          parameterization: 'consistency',
          consistency: { inner: 'v', sigma_min: 0.01 },
        },
        { seed: 1 },
      ).sample({ ...sample, sampler: 'consistency', classLabel: 0, guidance: 3 }),
  },
  {
    name: 'model.sample: sigmaMax above the model range',
    mode: 'async',
    code: BAD,
    message: /sigma_max 1000 is outside this model's sigma range/,
    call: (_, f) => f.model.sample({ ...sample, sigmaMax: 1000 }),
  },
  {
    name: 'model.sample: sigmaMax with explicit sigmas',
    mode: 'async',
    code: BAD,
    message: /explicit schedule lists its own/,
    call: (_, f) => f.model.sample({ ...sample, sigmas: [5, 1, 0], sigmaMax: 2 }),
  },
  {
    name: 'model.gradientCheck: NaN epsilon',
    mode: 'sync',
    code: BAD,
    message: /options\.epsilon must be >= 0/,
    call: (_, f) => f.model.gradientCheck({ epsilon: Number.NaN }),
  },
  {
    name: 'model.parameterCount: after dispose',
    mode: 'sync',
    code: 'ANNEAL_INVALID_STATE',
    message: /disposed/,
    call: (_, f) => f.disposed.parameterCount(),
  },
  {
    name: 'model.sample: after dispose',
    mode: 'sync',
    code: 'ANNEAL_INVALID_STATE',
    message: /disposed/,
    call: (_, f) => f.disposed.sample(sample),
  },
  // Distillation objectives (issue 12)
  {
    name: 'new Trainer: progressive with an eps student',
    mode: 'sync',
    code: BAD,
    message: /v or x0, not eps.*section 4/s,
    call: (n, f) => pd(n, f, {}, f.model),
  },
  {
    name: 'new Trainer: progressive with an empty grid',
    mode: 'sync',
    code: BAD,
    message: /2N \+ 1 values.*got 0/,
    call: (n, f) => pd(n, f, { sigmas: [] }),
  },
  {
    name: 'new Trainer: progressive with an even-length grid',
    mode: 'sync',
    code: BAD,
    message: /2N \+ 1 values.*got 4/,
    call: (n, f) => pd(n, f, { sigmas: [6, 2, 0.6, 0] }),
  },
  {
    name: 'new Trainer: progressive grid not ending in 0',
    mode: 'sync',
    code: BAD,
    message: /must end in 0/,
    call: (n, f) => pd(n, f, { sigmas: [6, 2, 0.6] }),
  },
  {
    name: 'new Trainer: progressive grid unsorted',
    mode: 'sync',
    code: BAD,
    message: /strictly decreasing: entry 2/,
    call: (n, f) => pd(n, f, { sigmas: [6, 2, 3, 0.6, 0] }),
  },
  {
    name: 'new Trainer: progressive grid above the teacher range',
    mode: 'sync',
    code: BAD,
    message: /outside the teacher's sigma range/,
    call: (n, f) => pd(n, f, { sigmas: [500, 2, 0] }),
  },
  {
    name: 'new Trainer: progressive grid with NaN',
    mode: 'sync',
    code: BAD,
    message: /sigmas\[1\] is nan/,
    call: (n, f) => pd(n, f, { sigmas: [6, Number.NaN, 0] }),
  },
  {
    name: 'new Trainer: progressive weighting unknown',
    mode: 'sync',
    code: BAD,
    message: /objective\.weighting.*truncated-snr, snr\+1/,
    call: (n, f) => pd(n, f, { weighting: 'min-snr' }),
  },
  {
    name: 'new Trainer: objective teacher not a Model',
    mode: 'sync',
    code: BAD,
    message: /objective\.teacher must be a Model/,
    call: (n, f) => pd(n, f, { teacher: {} }),
  },
  {
    name: 'new Trainer: output-distillation weight negative',
    mode: 'sync',
    code: BAD,
    message: /output weight -1 must be finite and >= 0/,
    call: (n, f) =>
      new n.Trainer(
        vStudent(n, f),
        trainerOptions(f, {
          objective: { kind: 'output-distillation', teacher: f.model, outputWeight: -1 },
        }),
      ),
  },
  {
    name: 'new Trainer: output-distillation with a consistency student',
    mode: 'sync',
    code: BAD,
    message: /output distillation needs a diffusion-model student/,
    call: (n, f) =>
      new n.Trainer(
        consistencyStudent(f),
        trainerOptions(f, { objective: { kind: 'output-distillation', teacher: f.model } }),
      ),
  },
  {
    name: 'new Trainer: objective teacher disposed',
    mode: 'sync',
    code: 'ANNEAL_INVALID_STATE',
    message: /disposed/,
    call: (n, f) => pd(n, f, { teacher: f.disposed }),
  },
  {
    name: 'new Trainer: objective kind unknown',
    mode: 'sync',
    code: BAD,
    message:
      /objective\.kind must be denoising, progressive, consistency-distillation, consistency-training or output-distillation/,
    call: (n, f) => pd(n, f, { kind: 'ect' }),
  },
  {
    name: 'new Trainer: teacher and student shapes differ',
    mode: 'sync',
    code: BAD,
    message: /differ in num_class_embeds \(teacher 0, student 3\)/,
    call: (n, f) =>
      new n.Trainer(
        new n.Model(
          {
            ...f.config,
            parameterization: 'v',
            unet: { ...f.config.unet, num_class_embeds: 3 },
          },
          { seed: 1 },
        ),
        trainerOptions(f, {
          objective: { kind: 'progressive', teacher: f.model, sigmas: [6, 2, 0] },
        }),
      ),
  },
  {
    name: 'new Trainer: consistency distillation with a v (non-consistency) student',
    mode: 'sync',
    code: BAD,
    message: /needs a consistency-model student/,
    call: (n, f) => cd(n, f, {}, vStudent(n, f)),
  },
  {
    name: 'new Trainer: consistency distillation sigmas ending in 0',
    mode: 'sync',
    code: BAD,
    message: /must be positive/,
    call: (n, f) => cd(n, f, { sigmas: [6, 2, 0] }),
  },
  {
    name: 'new Trainer: consistency distillation with one sigma',
    mode: 'sync',
    code: BAD,
    message: /N >= 2 sigmas.*got 1/,
    call: (n, f) => cd(n, f, { sigmas: [6] }),
  },
  {
    name: 'new Trainer: teacher and student on different VP schedules',
    mode: 'sync',
    code: BAD,
    message: /differ in their VP schedule \(teacher linear 1000 steps.*student cosine/,
    call: (n, f) =>
      pd(
        n,
        f,
        {},
        new n.Model(
          { ...f.config, parameterization: 'v', schedule: { kind: 'cosine', timesteps: 1000 } },
          { seed: 1 },
        ),
      ),
  },
  {
    name: "new Trainer: consistency distillation ending below the student's sigma_min",
    mode: 'sync',
    code: BAD,
    message: /sigmas end at 0\.6 but must end at the student's sigma_min 1 /,
    call: (n, f) => cd(n, f, {}, consistencyStudent(f, 1)),
  },
  {
    name: "new Trainer: consistency distillation ending above the student's sigma_min",
    mode: 'sync',
    code: BAD,
    message: /sigmas end at 0\.6 but must end at the student's sigma_min 0\.3 /,
    call: (n, f) => cd(n, f, {}, consistencyStudent(f, 0.3)),
  },
  {
    name: 'new Trainer: a consistency model as teacher',
    mode: 'sync',
    code: BAD,
    message: /teacher is a consistency model/,
    call: (n, f) => cd(n, f, { teacher: consistencyStudent(f) }),
  },
  {
    name: 'new Trainer: consistency training with a v (non-consistency) student',
    mode: 'sync',
    code: BAD,
    message: /consistency training needs a consistency-model student/,
    call: (n, f) =>
      new n.Trainer(
        vStudent(n, f),
        trainerOptions(f, { objective: { kind: 'consistency-training' } }),
      ),
  },
  {
    name: 'new Trainer: accumulation steps that do not divide the batch',
    mode: 'sync',
    code: BAD,
    message: /options\.accumulationSteps \(3\) must divide options\.batchSize \(4\)/,
    call: (n, f) =>
      new n.Trainer(f.model, trainerOptions(f, { batchSize: 4, accumulationSteps: 3 })),
  },
  {
    name: 'new Trainer: consistency training with q <= 1',
    mode: 'sync',
    code: BAD,
    message: /q must be > 1/,
    call: (n, f) =>
      new n.Trainer(
        consistencyStudent(f),
        trainerOptions(f, { objective: { kind: 'consistency-training', q: 1 } }),
      ),
  },
  {
    name: 'new Trainer: consistency training whose last q^a underflows float32',
    mode: 'sync',
    code: BAD,
    message: /q\^a reaches 2\^200 at step 200 .*underflows float32/,
    call: (n, f) =>
      new n.Trainer(
        consistencyStudent(f),
        trainerOptions(f, {
          totalSteps: 200,
          objective: { kind: 'consistency-training', halvingEvery: 1 },
        }),
      ),
  },
  {
    name: 'Model.derive: weights that do not fit the config',
    mode: 'sync',
    code: BAD,
    message: /weight .* has shape \[.*\] but the config implies/,
    call: (_, f) =>
      f.model.derive({ ...f.config, unet: { ...f.config.unet, block_out_channels: [32, 32] } }),
  },
  {
    name: 'model.inheritFrom: teacher not a Model',
    mode: 'sync',
    code: BAD,
    message: /teacher must be a Model/,
    call: (_, f) => f.model.inheritFrom({} as NativeModel),
  },
  {
    name: 'model.inheritFrom: a teacher of other classes',
    mode: 'sync',
    code: BAD,
    message: /differ in num_class_embeds \(teacher 3, student 0\)/,
    call: (n, f) =>
      f.model.inheritFrom(
        new n.Model({ ...f.config, unet: { ...f.config.unet, num_class_embeds: 3 } }, { seed: 1 }),
      ),
  },
  {
    name: 'model.inheritFrom: narrow not a boolean',
    mode: 'sync',
    code: BAD,
    message: /options\.narrow must be a boolean/,
    call: (n, f) =>
      f.model.inheritFrom(new n.Model(f.config, { seed: 1 }), {
        narrow: 'yes',
      } as unknown as { narrow: boolean }),
  },
  {
    name: 'model.inheritFrom: a disposed teacher',
    mode: 'sync',
    code: 'ANNEAL_INVALID_STATE',
    message: /disposed/,
    call: (_, f) => f.model.inheritFrom(f.disposed),
  },
  {
    name: 'Model.derive: consistency inner unknown',
    mode: 'sync',
    code: BAD,
    message: /consistency\.inner must be eps, v or x0/,
    call: (_, f) =>
      f.model.derive({
        ...f.config,
        parameterization: 'consistency',
        consistency: { inner: 'edm', sigma_min: 0.01 },
      }),
  },
  {
    name: 'distill.progressiveTarget: sigmas out of order',
    mode: 'sync',
    code: BAD,
    message: /sigmaT > sigmaMid > sigmaS/,
    call: (n) =>
      n.distill.progressiveTarget({ ...gaussianTeacher(), sigmaT: 1, sigmaMid: 2, sigmaS: 0 }),
  },
  {
    name: 'distill.progressiveTarget: an EDM config',
    mode: 'sync',
    code: BAD,
    message: /parameterization must be eps, v or x0/,
    call: (n) =>
      n.distill.progressiveTarget({
        ...gaussianTeacher({ config: { parameterization: 'edm' } }),
        sigmaT: 2,
        sigmaMid: 1,
        sigmaS: 0,
      }),
  },
  {
    name: 'distill.progressiveTarget: x of the wrong length',
    mode: 'sync',
    code: BAD,
    message: /^x has 3 elements/,
    call: (n) =>
      n.distill.progressiveTarget({
        ...gaussianTeacher({ x: new Float32Array(3) }),
        sigmaT: 2,
        sigmaMid: 1,
        sigmaS: 0,
      }),
  },
  {
    name: 'distill.teacherHeunStep: sigmaNext 0',
    mode: 'sync',
    code: BAD,
    message: /sigma > sigmaNext > 0/,
    call: (n) => n.distill.teacherHeunStep({ ...gaussianTeacher(), sigma: 1, sigmaNext: 0 }),
  },
  {
    name: 'distill.progressiveLoss: an even-length grid',
    mode: 'sync',
    code: BAD,
    message: /options\.grid must hold 2N \+ 1 sigmas ending in 0/,
    call: (n) =>
      n.distill.progressiveLoss({
        ...gaussianTeacher(),
        studentMean: new Float32Array(2),
        grid: [2, 1, 0.5, 0],
      }),
  },
  {
    name: 'distill.progressiveLoss: studentMean of the wrong length',
    mode: 'sync',
    code: BAD,
    message: /^studentMean has 3 elements/,
    call: (n) =>
      n.distill.progressiveLoss({
        ...gaussianTeacher(),
        studentMean: new Float32Array(3),
        grid: [2, 1, 0],
      }),
  },
  {
    name: 'distill.consistencyLoss: sigmaMin above the last sigma',
    mode: 'sync',
    code: BAD,
    message: /sigmaMin must be positive and at most the last sigma/,
    call: (n) =>
      n.distill.consistencyLoss({
        ...gaussianTeacher(),
        studentMean: new Float32Array(2),
        sigmas: [2, 1, 0.5],
        sigmaMin: 0.6,
      }),
  },
  {
    name: 'distill.consistencyLoss: unsorted sigmas',
    mode: 'sync',
    code: BAD,
    message: /options\.sigmas must be strictly decreasing/,
    call: (n) =>
      n.distill.consistencyLoss({
        ...gaussianTeacher(),
        studentMean: new Float32Array(2),
        sigmas: [1, 2],
        sigmaMin: 0.5,
      }),
  },
  {
    name: 'distill.ectPair: a sigma_t at sigmaMin',
    mode: 'sync',
    code: BAD,
    message: /sigmaT entries must be finite and above sigmaMin/,
    call: (n) => n.distill.ectPair({ sigmaT: [0.01], step: 1, sigmaMin: 0.01 }),
  },
  {
    name: 'distill.ectPair: step 0',
    mode: 'sync',
    code: BAD,
    message: /options\.step/,
    call: (n) => n.distill.ectPair({ sigmaT: [1], step: 0, sigmaMin: 0.01 }),
  },
  // Trainer
  {
    name: 'new Trainer: model not a Model',
    mode: 'sync',
    code: BAD,
    message: /model must be a Model/,
    call: (n, f) => new n.Trainer({} as NativeModel, trainerOptions(f)),
  },
  {
    name: 'new Trainer: disposed model',
    mode: 'sync',
    code: 'ANNEAL_INVALID_STATE',
    message: /disposed/,
    call: (n, f) => new n.Trainer(f.disposed, trainerOptions(f)),
  },
  {
    name: 'new Trainer: no shards',
    mode: 'sync',
    code: BAD,
    message: /no dataset shards given/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { shards: [] })),
  },
  {
    name: 'new Trainer: missing shard',
    mode: 'sync',
    code: 'ANNEAL_NOT_FOUND',
    message: /no such dataset shard: .*missing\.safetensors/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { shards: [f.missing] })),
  },
  {
    name: 'new Trainer: corrupt shard',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /dataset shard .*garbage\.safetensors is not a readable/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { shards: [f.garbage] })),
  },
  {
    name: 'new Trainer: unknown lrSchedule',
    mode: 'sync',
    code: BAD,
    message: /options\.lrSchedule must be cosine or constant/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { lrSchedule: 'linear' })),
  },
  {
    name: 'new Trainer: unknown lossWeighting',
    mode: 'sync',
    code: BAD,
    message: /options\.lossWeighting must be none or min-snr/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { lossWeighting: 'edm' })),
  },
  {
    name: 'new Trainer: minSnrGamma 0',
    mode: 'sync',
    code: BAD,
    message: /options\.minSnrGamma must be positive/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { minSnrGamma: 0 })),
  },
  {
    name: 'new Trainer: cfgDropout above 1',
    mode: 'sync',
    code: BAD,
    message: /options\.cfgDropout must be in \[0, 1\]/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { cfgDropout: 1.5 })),
  },
  {
    name: 'new Trainer: truncated shard',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /truncated\.safetensors is not a readable/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { shards: [f.truncated] })),
  },
  {
    name: 'new Trainer: shard without images',
    mode: 'sync',
    code: BAD,
    message: /shard has no 'images' tensor/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { shards: [f.noImages] })),
  },
  {
    name: 'new Trainer: float images',
    mode: 'sync',
    code: BAD,
    message: /'images' must be uint8/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { shards: [f.wrongDtype] })),
  },
  {
    name: 'new Trainer: images of another size',
    mode: 'sync',
    code: BAD,
    message: /dataset images are 16x16x1 but the model expects 8x8x1/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { shards: [f.wrongSize] })),
  },
  {
    name: 'new Trainer: zero batch',
    mode: 'sync',
    code: BAD,
    message: /options\.batchSize must be >= 1/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { batchSize: 0 })),
  },
  {
    name: 'new Trainer: batch larger than the dataset',
    mode: 'sync',
    code: BAD,
    message: /the dataset has 16 images, fewer than one batch of 64/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { batchSize: 64 })),
  },
  {
    name: 'new Trainer: unknown dtype',
    mode: 'sync',
    code: BAD,
    message: /options\.dtype must be/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { dtype: 'int8' })),
  },
  {
    name: 'new Trainer: NaN learning rate',
    mode: 'sync',
    code: BAD,
    message: /options\.lr must be >= 0/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { lr: Number.NaN })),
  },
  {
    name: 'trainer.run: negative steps',
    mode: 'sync',
    code: BAD,
    message: /steps must be an integer in/,
    call: (_, f) => f.trainer.run(-1),
  },
  {
    name: 'trainer.run: NaN steps',
    mode: 'sync',
    code: BAD,
    message: /steps must be an integer in/,
    call: (_, f) => f.trainer.run(Number.NaN),
  },
  {
    name: 'trainer.setAccumulationSteps: not a divisor of the batch',
    mode: 'sync',
    code: BAD,
    message: /k \(3\) must be a divisor of the batch \(4\)/,
    call: (_, f) => f.trainer.setAccumulationSteps(3),
  },
  {
    name: 'trainer.run: diverges past its rollbacks',
    mode: 'async',
    code: 'ANNEAL_DIVERGED',
    message: /training diverged: the loss became NaN\/Inf/,
    call: (n, f) =>
      new n.Trainer(
        f.model,
        trainerOptions(f, { lr: 1e30, warmupSteps: 0, gradClip: 0, maxRollbacks: 0 }),
      ).run(20),
  },
  {
    name: 'trainer.run: peak memory over the budget',
    mode: 'async',
    code: 'ANNEAL_MEMORY_BUDGET',
    message: /peak memory .* at step 1 \(\d+x\d+, batch \d+\) exceeded the memory budget/,
    call: (n, f) =>
      new n.Trainer(f.model, trainerOptions(f, { budgetBytes: 1024, budgetSource: 'test' })).run(1),
  },
  {
    name: 'trainer.loadState: missing file',
    mode: 'sync',
    code: 'ANNEAL_NOT_FOUND',
    message: /no such trainer state: .*missing\.safetensors/,
    call: (_, f) => f.trainer.loadState(f.missing),
  },
  {
    name: 'trainer.loadState: corrupt file',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /garbage\.safetensors is not a readable/,
    call: (_, f) => f.trainer.loadState(f.garbage),
  },
  {
    name: 'trainer.loadState: a model file',
    mode: 'sync',
    code: BAD,
    message: /is not an Anneal trainer state/,
    call: (_, f) => f.trainer.loadState(f.otherWeights),
  },
  {
    name: 'trainer.loadState: state of another seed',
    mode: 'sync',
    code: BAD,
    message: /was written with seed 1, this run uses seed 2/,
    call: (n, f) => new n.Trainer(f.model, trainerOptions(f, { seed: 2 })).loadState(f.state),
  },
  {
    // The data position indexes the epoch's permutation: a negative one read before it.
    name: 'trainer.loadState: a negative data position',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /metadata field 'position' is -4, expected an integer in 0\.\.16/,
    call: (_, f) => loadCrafted(f, 'position-negative', { position: '-4' }),
  },
  {
    name: 'trainer.loadState: a data position past the dataset',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /metadata field 'position' is 17, expected an integer in 0\.\.16/,
    call: (_, f) => loadCrafted(f, 'position-past', { position: '17' }),
  },
  {
    name: 'trainer.loadState: a negative epoch',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /metadata field 'epoch' is -1, expected an integer in 0\.\./,
    call: (_, f) => loadCrafted(f, 'epoch-negative', { epoch: '-1' }),
  },
  {
    name: 'trainer.loadState: a negative step',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /metadata field 'step' is -3, expected an integer in 0\.\./,
    call: (_, f) => loadCrafted(f, 'step-negative', { step: '-3' }),
  },
  {
    name: 'trainer.loadState: a step too large for a count',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /metadata field 'step' is 1e300, expected an integer/,
    call: (_, f) => loadCrafted(f, 'step-huge', { step: '1e300' }),
  },
  {
    name: 'trainer.loadState: a learning-rate scale of zero',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /metadata field 'lr_scale' is 0, expected a number in \(0, 1\]/,
    call: (_, f) => loadCrafted(f, 'lr-scale-zero', { lr_scale: '0' }),
  },
  {
    // The unchanged copy loads: the cases above fail on their field, not on the rewrite.
    name: 'trainer.loadState: a rewritten but valid state loads, then a bad one is refused',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /metadata field 'position' is 2\.5/,
    call: (_, f) => {
      loadCrafted(f, 'rewritten', { position: '8' });
      return loadCrafted(f, 'position-fraction', { position: '2.5' });
    },
  },
  {
    name: 'trainer.saveState: into a missing directory',
    mode: 'sync',
    code: 'ANNEAL_IO',
    message: /cannot write .*no-such-dir/,
    call: (_, f) => f.trainer.saveState(f.unwritable),
  },
  {
    name: 'trainer.saveState: while run() is pending',
    mode: 'async',
    code: 'ANNEAL_INVALID_STATE',
    message: /the trainer is running/,
    call: async (_, f) => {
      const running = f.trainer.run(1);
      try {
        f.trainer.saveState(join(f.dir, 'during-run.safetensors'));
      } finally {
        await running;
      }
    },
  },
  // extractor
  {
    name: 'extractor.train: unknown kind',
    mode: 'sync',
    code: BAD,
    message: /config\.kind/,
    call: (n, f) =>
      n.extractor.train({ ...extractorConfig, kind: 'nope' as 'classifier' }, training, {
        train: [f.shard],
        heldout: [f.shard],
        out: join(f.dir, 'x.safetensors'),
      }),
  },
  {
    name: 'extractor.train: negative steps',
    mode: 'sync',
    code: BAD,
    message: /training\.steps must be >= 1/,
    call: (n, f) =>
      n.extractor.train(
        extractorConfig,
        { ...training, steps: -1 },
        { train: [f.shard], heldout: [f.shard], out: join(f.dir, 'x.safetensors') },
      ),
  },
  {
    name: 'extractor.train: out not .safetensors',
    mode: 'sync',
    code: BAD,
    message: /data\.out must end in \.safetensors/,
    call: (n, f) =>
      n.extractor.train(extractorConfig, training, {
        train: [f.shard],
        heldout: [f.shard],
        out: join(f.dir, 'x.bin'),
      }),
  },
  {
    name: 'extractor.train: missing shard',
    mode: 'async',
    code: 'ANNEAL_NOT_FOUND',
    message: /no such dataset shard/,
    call: (n, f) =>
      n.extractor.train(extractorConfig, training, {
        train: [f.missing],
        heldout: [f.shard],
        out: join(f.dir, 'x.safetensors'),
      }),
  },
  {
    name: 'extractor.train: corrupt shard',
    mode: 'async',
    code: 'ANNEAL_IO',
    message: /garbage\.safetensors is not a readable/,
    call: (n, f) =>
      n.extractor.train(extractorConfig, training, {
        train: [f.shard],
        heldout: [f.garbage],
        out: join(f.dir, 'x.safetensors'),
      }),
  },
  {
    name: 'extractor.features: missing weights',
    mode: 'async',
    code: 'ANNEAL_NOT_FOUND',
    message: /no such extractor weights/,
    call: (n, f) =>
      n.extractor.features(extractorConfig, f.missing, new Uint8Array(RES * RES), [1, RES, RES, 1]),
  },
  {
    name: 'extractor.features: corrupt weights',
    mode: 'async',
    code: 'ANNEAL_IO',
    message: /garbage\.safetensors is not a readable/,
    call: (n, f) =>
      n.extractor.features(extractorConfig, f.garbage, new Uint8Array(RES * RES), [1, RES, RES, 1]),
  },
  {
    name: 'extractor.features: weights of a U-Net',
    mode: 'async',
    code: BAD,
    message: /lacks .*does it match the config/,
    call: (n, f) =>
      n.extractor.features(extractorConfig, f.otherWeights, new Uint8Array(RES * RES), [
        1,
        RES,
        RES,
        1,
      ]),
  },
  {
    name: 'extractor.features: images shorter than the shape',
    mode: 'sync',
    code: BAD,
    message: /shape holds 64 values but images\.length is 3/,
    call: (n, f) =>
      n.extractor.features(extractorConfig, f.garbage, new Uint8Array(3), [1, RES, RES, 1]),
  },
  {
    name: 'extractor.features: NaN in the shape',
    mode: 'sync',
    code: BAD,
    message: /shape entries must be positive/,
    call: (n, f) =>
      n.extractor.features(extractorConfig, f.garbage, new Uint8Array(RES * RES), [
        Number.NaN,
        RES,
        RES,
        1,
      ]),
  },
];
