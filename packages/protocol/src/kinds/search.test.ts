import { describe, expect, it } from 'vitest';
import { jobSpecSchema, parseChildLine } from '../jobs.ts';
import { AGENT_FEATURES } from '../messages.ts';
import { searchSummaryFixture, searchFixtureUNet as unet } from '../testing/search-summary.ts';
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
      winners: 1,
      full_iters: 5000,
      full_schedule: 'cooldown',
      correlate: 0,
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
    // ... and its candidates as started from the teacher's tensors of the same names and shapes.
    expect(s.settings.proxy.inherit).toBe('exact');
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
