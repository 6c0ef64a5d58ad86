import { describe, expect, it } from 'vitest';
import { jobSpecSchema, parseChildLine } from '../jobs.ts';
import { AGENT_FEATURES } from '../messages.ts';
import {
  candidateNameSchema,
  searchKind,
  searchSpecSchema,
  searchSummarySchema,
  searchTeacherMs,
} from './search.ts';
import { trainSpecSchema } from './train.ts';

const teacher = 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D';

/** The path and message of the first issue of a spec that should be refused. */
function refusal(spec: unknown): string {
  const r = searchSpecSchema.safeParse(spec);
  expect(r.success).toBe(false);
  const issue = r.error?.issues[0];
  return `${issue?.path.join('.')}: ${issue?.message}`;
}

const unet = {
  sample_size: 32,
  in_channels: 1,
  out_channels: 1,
  block_out_channels: [16, 32],
  layers_per_block: 1,
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
  up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
  attention_head_dim: 16,
  norm_num_groups: 8,
  num_class_embeds: 11,
};
const measured = {
  latencyMs: 2,
  throughputMsPerImage: 0.5,
  throughputBatch: 16,
  samplePeakBytes: 1e7,
  trainStepMs: 40,
  trainBatch: 32,
  trainPeakBytes: 3e8,
};
const evaluation = {
  n: 1000,
  fd: 2.4,
  floor: 0.3,
  kid: 0.01,
  precision: 0.7,
  recall: 0.6,
  classAccuracy: 0.95,
};
const rungs = [
  { iters: 100, proxy: 0.02, trainSeconds: 30 },
  { iters: 200, proxy: 0.015, trainSeconds: 31 },
];
/** A finished search's summary, as `anneal search --json` prints it last. */
const searchSummaryFixture = {
  out: '/tmp/search',
  phase: 'done',
  profile: 'cpu-AMD_EPYC-2t-mlx0.32.4',
  hardware: {
    backend: 'cpu',
    os: 'linux',
    chip: { vendor: 'amd', name: 'AMD EPYC', family: null, tier: null, gpuArchitecture: null },
    memory: { totalBytes: 25e9, workingSetBytes: 25e9, unified: false },
    cores: { logical: 2, performance: 2, efficiency: 0 },
    mlxVersion: '0.32.4',
    blas: 'openblas',
  },
  settings: {
    space: { widthScales: [0.5, 0.75, 1], levelsDropped: [0, 1] },
    fitSample: 12,
    latencyMs: null,
    speedup: 1.5,
    pool: 8,
    throughputBatch: 16,
    trainBatch: 32,
    proxy: {
      sampler: 'dpmpp-2m',
      steps: 20,
      n: 64,
      batch: 32,
      lr: 5e-4,
      emaDecay: 0.999,
      outputWeight: 1,
      seed: 0,
      checkpointEvery: 50,
    },
    firstIters: 100,
    eta: 2,
    rungs: 3,
    winners: 2,
    fullIters: 2000,
    evalN: 1000,
    extractor: {},
  },
  teacher: { dir: '/tmp/teacher', weights: 'a'.repeat(64), name: 'w32.64-l2-a.AM-h16-g8' },
  latencyLimitMs: 4,
  candidates: 189,
  measured: 21,
  predictor: {
    latencyMs: { coefficients: [0.1, 1e-8, 0, 0], looError: { median: 0.08, max: 0.3, n: 21 } },
  },
  seconds: { measure: 120, proxy: 900 },
  pool: [
    { name: 'w16.32-l1-a.A-h16-g8', parameters: 160401, measured, rungs, dropped: null },
    {
      name: 'w16.32-l1-a..-g8',
      parameters: 150000,
      measured: { ...measured, latencyMs: 1.5 },
      predicted: {
        latencyMs: 1.4,
        throughputMsPerImage: 0.4,
        trainStepMs: 35,
        trainPeakBytes: 2e8,
      },
      rungs: rungs.slice(0, 1),
      dropped: 'halved out after rung 1 (proxy 3.000e-2)',
    },
  ],
  front: ['w32.64-l2-a.AM-h16-g8', 'w16.32-l1-a.A-h16-g8'],
  teacherEval: { ...evaluation, fd: 2 },
  winners: [
    {
      name: 'w16.32-l1-a.A-h16-g8',
      unet,
      parameters: 160401,
      measured,
      speedup: 3,
      rungs,
      full: { iters: 2000, proxy: 0.01, trainSeconds: 600, eval: evaluation },
      dir: 'winners/w16.32-l1-a.A-h16-g8',
    },
  ],
};

describe('the search job kind', () => {
  it("takes the teacher's version id in lower case and `anneal search`'s defaults", () => {
    const spec = searchSpecSchema.parse({ teacher, speedup: 2 });
    expect(spec).toEqual({
      teacher: teacher.toLowerCase(),
      objective: 'latency',
      speedup: 2,
      pool: 8,
      fit_sample: 12,
      first_iters: 100,
      eta: 2,
      rungs: 3,
      winners: 2,
      full_iters: 2000,
      eval_n: 1000,
      sampler: 'dpmpp-2m',
      steps: 20,
      seed: 0,
    });
    expect(jobSpecSchema.parse({ type: 'search', spec: { teacher } })).toMatchObject({
      type: 'search',
      spec: { teacher: teacher.toLowerCase(), pool: 8 },
    });
    expect(searchKind.model(spec)).toEqual({ kind: 'modelVersion', id: teacher.toLowerCase() });
  });

  it('refuses bad specs and names the field', () => {
    expect(refusal({})).toMatch(/^teacher: /);
    expect(refusal({ teacher, latency_ms: 0 })).toMatch(/^latency_ms: /);
    expect(refusal({ teacher, objective: 'fast' })).toMatch(/^objective: /);
    expect(refusal({ teacher, speedup: 1 })).toMatch(/^speedup: /);
    expect(refusal({ teacher, latency_ms: 3, speedup: 2 })).toBe(
      'speedup: give latency_ms or speedup, not both (the limit is one or the other)',
    );
    expect(refusal({ teacher, pool: 0 })).toMatch(/^pool: /);
    expect(refusal({ teacher, fit_sample: 2 })).toMatch(/^fit_sample: /);
    expect(refusal({ teacher, eta: 1 })).toMatch(/^eta: /);
    expect(refusal({ teacher, rungs: 9 })).toMatch(/^rungs: /);
    expect(refusal({ teacher, winners: 17 })).toMatch(/^winners: /);
    expect(refusal({ teacher, full_iters: 0.5 })).toMatch(/^full_iters: /);
    expect(refusal({ teacher, eval_n: 1 })).toMatch(/^eval_n: /);
    expect(refusal({ teacher, sampler: 'magic' })).toMatch(/^sampler: /);
    expect(refusal({ teacher, extractor_width: 12 })).toMatch(/^extractor_width: /);
    // camelCase is not the spec's spelling: refused, not silently dropped.
    expect(refusal({ teacher, fullIters: 10 })).toMatch(/fullIters/);
  });

  it('is offered only to agents that run search jobs, sized on training the teacher', () => {
    const spec = searchSpecSchema.parse({ teacher });
    expect(searchKind.features?.(spec)).toEqual(['search']);
    expect(AGENT_FEATURES).toContain('search');
    const train = trainSpecSchema.parse({
      dataset: { kind: 'builtin', name: 'shapes' },
      preset: 'tiny',
      resolution: 16,
      steps: 10,
    });
    const need = searchKind.memoryNeed(spec, {
      source: { spec: train, versionClasses: null },
      versionClasses: null,
    } as never);
    expect(need).toMatchObject({ batch: 32, dtype: 'float32' });
    expect(need?.bytes).toBeGreaterThan(0);
    expect(searchKind.memoryNeed(spec, { source: null, versionClasses: null } as never)).toBeNull();
  });

  it("reads the child's summary and names what is wrong in a bad one", () => {
    const parsed = parseChildLine('search', JSON.stringify(searchSummaryFixture));
    expect(parsed.kind).toBe('summary');
    const s = searchSummarySchema.parse(searchSummaryFixture);
    expect(s.winners[0]?.unet.block_out_channels).toEqual([16, 32]);
    // A diverged proxy prints as null and is kept as null, not a failed job.
    const nan = {
      ...searchSummaryFixture,
      pool: [
        { ...searchSummaryFixture.pool[0], rungs: [{ iters: 100, proxy: null, trainSeconds: 3 }] },
      ],
    };
    expect(searchSummarySchema.safeParse(nan).success).toBe(true);
    const bad = (patch: Record<string, unknown>) => () =>
      parseChildLine('search', JSON.stringify({ ...searchSummaryFixture, ...patch }));
    expect(bad({ phase: 'resting' })).toThrow(/invalid summary \(phase: /);
    expect(bad({ winners: [{ ...searchSummaryFixture.winners[0], name: '../etc' }] })).toThrow(
      /winners\.0\.name: /,
    );
    expect(
      bad({
        winners: [{ ...searchSummaryFixture.winners[0], unet: { ...unet, layers_per_block: 0 } }],
      }),
    ).toThrow(/winners\.0\.unet\.layers_per_block: /);
    expect(bad({ teacher: { ...searchSummaryFixture.teacher, weights: 'xyz' } })).toThrow(
      /teacher\.weights: /,
    );
    expect(bad({ settings: undefined })).toThrow(/settings: /);
    expect(() =>
      parseChildLine('search', '{"event":"checkpoint","step":1,"dir":"/d","files":["a"]}'),
    ).toThrow(/invalid event/);
  });

  it('bounds candidate names to one path segment', () => {
    expect(candidateNameSchema.safeParse('w16.32-l1-a..M-h16-g8-lin').success).toBe(true);
    for (const name of ['..', '.', 'a/b', '', 'a b', 'x'.repeat(201)])
      expect(candidateNameSchema.safeParse(name).success, name).toBe(false);
  });

  it("finds the teacher's ms in the objective from a winner's speedup, or the derived limit", () => {
    const s = searchSummarySchema.parse(searchSummaryFixture);
    // A summary from before the objective was a setting reads as a latency search.
    expect(s.settings.objective).toBe('latency');
    expect(searchTeacherMs(s)).toBe(6);
    // A throughput search's speedup is over ms per image-step (the winner's is 0.5).
    const throughput = { ...s, settings: { ...s.settings, objective: 'throughput' as const } };
    expect(searchTeacherMs(throughput)).toBe(1.5);
    expect(searchTeacherMs({ ...s, winners: [] })).toBe(6);
    expect(
      searchTeacherMs({
        ...s,
        winners: [],
        settings: { ...s.settings, latencyMs: 4 },
      }),
    ).toBeNull();
    // Its own measurement, when the summary gives it, comes first.
    const measured = { ...s.winners[0]?.measured, latencyMs: 7, throughputMsPerImage: 2 };
    expect(searchTeacherMs({ ...s, teacherMeasured: measured as never })).toBe(7);
    expect(searchTeacherMs({ ...throughput, teacherMeasured: measured as never })).toBe(2);
  });
});
