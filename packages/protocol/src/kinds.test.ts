import { estimateSamplingMemory } from '@anneal/engine/config';
import { describe, expect, it } from 'vitest';
import { jobKinds, jobSpecSchema, parseChildLine } from './jobs.ts';
import { evaluateKind } from './kinds/evaluate.ts';
import type { RequirementContext } from './kinds/kind.ts';
import { trainedUNet, trainSpecSchema } from './kinds/train.ts';

// A job's child prints JSON lines that its kind's schemas parse: what passes, and that a line
// the kind does not print is refused with the line and the field named.

describe('job kinds', () => {
  it('each registered kind parses its own jobs through jobSpecSchema', () => {
    for (const kind of jobKinds) {
      const job = jobSpecSchema.safeParse({ type: kind.type, spec: {} });
      const own = kind.job.safeParse({ type: kind.type, spec: {} });
      expect(job.success, kind.type).toBe(own.success);
    }
    expect(jobSpecSchema.safeParse({ type: 'bench', spec: {} }).data).toEqual({
      type: 'bench',
      spec: { benchmark: 'sampling', scale: 'quick' },
    });
  });
});

describe("the adaptive sampler's tolerances in job specs", () => {
  const model = { kind: 'run', runId: '00000000-0000-4000-8000-000000000001' };
  it.each(['sample', 'evaluate'] as const)(
    '%s: rtol/atol with a fixed-step sampler are refused with the field named',
    (type) => {
      for (const key of ['rtol', 'atol'] as const) {
        const r = jobSpecSchema.safeParse({ type, spec: { model, sampler: 'euler', [key]: 0.1 } });
        expect(r.success).toBe(false);
        const issue = r.error?.issues.find((i) => i.path.at(-1) === key);
        expect(issue?.message).toMatch(/needs sampler adaptive/);
      }
      // The default sampler (dpmpp-2m) is fixed-step too.
      expect(jobSpecSchema.safeParse({ type, spec: { model, rtol: 0.1 } }).success).toBe(false);
      const ok = jobSpecSchema.safeParse({
        type,
        spec: { model, sampler: 'adaptive', rtol: 0.1, atol: 0.01 },
      });
      expect(ok.success, JSON.stringify(ok.error?.issues)).toBe(true);
    },
  );
});

describe('parseChildLine', () => {
  it("parses a kind's events and its summary", () => {
    const metrics = { event: 'metrics', step: 10, total: 20, loss: 0.5, lr: null };
    expect(parseChildLine('train', JSON.stringify(metrics))).toEqual({
      kind: 'event',
      event: metrics,
    });
    const error = { event: 'error', reason: 'bad file', retryable: false };
    expect(parseChildLine('sample', JSON.stringify(error))).toEqual({
      kind: 'event',
      event: error,
    });
    const summary = { out: '/x.png', n: 4, sampler: 'euler', steps: 2, nfe: 2, wall_s: 1 };
    expect(parseChildLine('sample', JSON.stringify(summary))).toEqual({ kind: 'summary', summary });
  });

  it('returns what the schema parsed, not the raw line', () => {
    const summary = { out: '/x.png', n: 4, sampler: 'euler', steps: 2, nfe: 2, wall_s: 1 };
    // A key the kind does not define does not travel on to the server.
    const line = JSON.stringify({ ...summary, debug: { huge: 'x'.repeat(100) } });
    expect(parseChildLine('sample', line)).toEqual({ kind: 'summary', summary });
  });

  it('refuses a line the kind does not print, naming it', () => {
    expect(() => parseChildLine('train', 'step 3 of 10')).toThrow(
      /the train child printed a line that is not JSON: "step 3 of 10"/,
    );
    expect(() => parseChildLine('train', '[1,2]')).toThrow(/not a JSON object/);
    // A sample job writes no checkpoints.
    expect(() =>
      parseChildLine('sample', '{"event":"checkpoint","step":1,"dir":"/d","files":["a"]}'),
    ).toThrow(/the sample child printed an invalid event \(event: /);
    expect(() => parseChildLine('train', '{"event":"metrics","step":-1,"total":5}')).toThrow(
      /invalid event \(step: /,
    );
    expect(() => parseChildLine('evaluate', '{"fd":"low"}')).toThrow(/invalid summary/);
  });
});

describe("an evaluate job's memory need (issue 16 §5)", () => {
  const model = { kind: 'run', runId: '00000000-0000-4000-8000-000000000001' };
  const train = trainSpecSchema.parse({
    dataset: { kind: 'builtin', name: 'shapes' },
    preset: 'tiny',
    resolution: 16,
    steps: 10,
  });
  const source = { spec: train, versionClasses: null };
  const need = (resolutions?: number[]) => {
    const spec = evaluateKind.spec.parse({ model, ...(resolutions ? { resolutions } : {}) });
    // The need of a sampling job does not depend on the agent's hardware.
    const context = { source, versionClasses: null } as Omit<RequirementContext, 'hardware'>;
    return { spec, need: evaluateKind.memoryNeed?.(spec, context as RequirementContext) };
  };
  it('is sized at the largest resolution it scores at, not the trained one', () => {
    const { spec, need: trained } = need();
    const { need: wide } = need([16, 64, 32]);
    const unet = trainedUNet(train, null);
    const sampling = { n: spec.n, guidance: spec.guidance };
    expect(trained?.bytes).toBe(estimateSamplingMemory(unet, sampling).total);
    expect(wide?.bytes).toBe(estimateSamplingMemory({ ...unet, sample_size: 64 }, sampling).total);
    expect(wide?.bytes).toBeGreaterThan(4 * (trained?.bytes ?? 0));
  });
});
