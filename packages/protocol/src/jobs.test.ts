import { describe, expect, it } from 'vitest';
import { jobSpecSchema } from './jobs.ts';

const id = '00000000-0000-4000-8000-000000000001';
const issue = (job: unknown) => {
  const r = jobSpecSchema.safeParse(job);
  return r.success ? null : `${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`;
};

describe('evaluate, bench and model sources', () => {
  it('takes a run or a model version as the model of sample and evaluate', () => {
    for (const type of ['sample', 'evaluate']) {
      expect(issue({ type, spec: { model: { kind: 'run', runId: id } } })).toBeNull();
      expect(issue({ type, spec: { model: { kind: 'modelVersion', id } } })).toBeNull();
      expect(issue({ type, spec: { model: { kind: 'modelVersion', runId: id } } })).toMatch(
        /^spec\.model/,
      );
    }
  });

  it('fills evaluate defaults like `anneal eval`, and names the field it refuses', () => {
    const r = jobSpecSchema.parse({
      type: 'evaluate',
      spec: { model: { kind: 'run', runId: id } },
    });
    expect(r.spec).toMatchObject({ sampler: 'dpmpp-2m', steps: 20, n: 1000, seed: 0, guidance: 1 });
    const model = { kind: 'run', runId: id };
    expect(issue({ type: 'evaluate', spec: { model, n: 5 } })).toMatch(/^spec\.n:/);
    expect(issue({ type: 'evaluate', spec: { model, reference_steps: 4 } })).toBe(
      'spec.reference_steps: needs reference_sampler',
    );
    expect(issue({ type: 'evaluate', spec: { model, extractor_width: 12 } })).toMatch(
      /multiple of 8/,
    );
    expect(issue({ type: 'evaluate', spec: { model, steps: 4, extra: 1 } })).toMatch(/extra/);
  });

  it('bounds bench to the sampling benchmark at smoke or quick size', () => {
    expect(jobSpecSchema.parse({ type: 'bench', spec: {} }).spec).toEqual({
      benchmark: 'sampling',
      scale: 'quick',
    });
    expect(issue({ type: 'bench', spec: { scale: 'full' } })).toMatch(/^spec\.scale/);
    expect(issue({ type: 'bench', spec: { benchmark: 'training' } })).toMatch(/^spec\.benchmark/);
  });
});
