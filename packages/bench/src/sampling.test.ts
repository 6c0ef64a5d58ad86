import { Model, presetUNet } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { type QualityProbe, samplingToTarget, stepsForNfe } from './sampling.ts';

// The FD-target sweep with a stand-in probe that scores sample sets in call order, so the test
// checks the ladder logic, not image quality (`anneal bench --only to-target` measures that with
// `anneal eval`'s FD; apps/agent's bench test runs it end to end).
describe('NFE to reach a stated FD', () => {
  const probe = (scores: number[]): QualityProbe => {
    let call = 0;
    return { describe: 'stand-in: FD by call order', fd: async () => scores[call++] ?? 0 };
  };

  it('states the target from the reference, then climbs the ladder until it is met', async () => {
    const model = Model.create({ unet: presetUNet('tiny', { resolution: 8, channels: 1 }) });
    const partials: number[] = [];
    try {
      // Reference FD 2 -> target 2.2; euler scores 9, 4, 2.1 on rungs 1, 2, 4 and stops there.
      const r = await samplingToTarget(model, {
        quality: probe([2, 9, 4, 2.1, 0]),
        n: 1,
        nfeLadder: [4, 1, 2, 8],
        samplers: ['euler'],
        reference: { sampler: 'dpmpp-2m', steps: 3 },
        onPartial: (p) => partials.push(p.samplers.length),
      });
      expect(r.target_fd).toBeCloseTo(2.2);
      expect(r.reference).toMatchObject({ sampler: 'dpmpp-2m', steps: 3, nfe_per_image: 3, fd: 2 });
      const [euler] = r.samplers;
      expect(euler?.tried.map((t) => t.steps)).toEqual([1, 2, 4]);
      expect(euler?.steps).toBe(4);
      expect(euler?.nfe_per_image).toBe(4);
      expect(euler?.seconds).toBeGreaterThan(0);
      expect(partials).toEqual([0, 1]);
      // A rung equal to the reference reuses it (same seed, same images): no new FD call.
      const again = await samplingToTarget(model, {
        quality: probe([3, 9, 0]),
        n: 1,
        nfeLadder: [1, 2],
        samplers: ['euler'],
        reference: { sampler: 'euler', steps: 2 },
        factor: 1,
      });
      expect(again.samplers[0]?.tried.map((t) => t.fd)).toEqual([9, 3]);
      expect(again.samplers[0]?.steps).toBe(2);
    } finally {
      model.dispose();
    }
  });

  it('reports null when no rung meets an explicit target', async () => {
    const model = Model.create({ unet: presetUNet('tiny', { resolution: 8, channels: 1 }) });
    try {
      const r = await samplingToTarget(model, {
        quality: probe([1, 5, 4, 3]),
        n: 1,
        nfeLadder: [1, 3, 5],
        samplers: ['heun'],
        reference: { sampler: 'euler', steps: 2 },
        targetFd: 0.5,
      });
      expect(r.factor).toBeNull();
      const [heun] = r.samplers;
      expect(heun?.steps).toBeNull();
      // NFE 1, 3, 5 -> Heun steps 1, 2, 3 -> NFE 1, 3, 5.
      expect(heun?.tried.map((t) => t.nfe_per_image)).toEqual([1, 3, 5]);
    } finally {
      model.dispose();
    }
  });

  it('maps NFE to steps per sampler', () => {
    expect(stepsForNfe('heun', 19)).toBe(10);
    // An even rung rounds down: 5 Heun steps are 9 NFE, 6 would be 11 (over the rung).
    expect(stepsForNfe('heun', 10)).toBe(5);
    expect(stepsForNfe('dpmpp-2m', 19)).toBe(19);
    expect(() => stepsForNfe('euler', 0)).not.toThrow();
  });
});
