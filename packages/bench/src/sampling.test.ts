import { Model, presetUNet } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { type QualityProbe, samplingToTarget } from './sampling.ts';

// The FD-target sweep, with a stand-in probe until `anneal eval` provides FD: the probe scores
// a sample set by the step count it was made with (known through a counter), so the test
// checks the sweep logic, not image quality.
describe('NFE to reach a stated FD', () => {
  it('stops at the first step count that meets the target and records NFE and time', async () => {
    const model = Model.create({
      unet: presetUNet('tiny', { resolution: 8, channels: 1 }),
    });
    const scores = [9, 4, 1];
    let call = 0;
    const probe: QualityProbe = {
      describe: 'stand-in: FD by call order',
      fd: async () => scores[call++ % scores.length] ?? 0,
    };
    try {
      const [euler] = await samplingToTarget(model, {
        quality: probe,
        targetFd: 5,
        sweep: [4, 1, 2],
        n: 1,
        samplers: ['euler'],
      });
      expect(euler?.tried.map((t) => t.steps)).toEqual([1, 2]);
      expect(euler?.steps).toBe(2);
      expect(euler?.nfe_per_image).toBe(2);
      expect(euler?.seconds).toBeGreaterThan(0);
      call = 0;
      const [never] = await samplingToTarget(model, {
        quality: probe,
        targetFd: 0.5,
        sweep: [1, 2, 3],
        n: 1,
        samplers: ['ddim'],
      });
      expect(never?.steps).toBeNull();
      expect(never?.tried).toHaveLength(3);
    } finally {
      model.dispose();
    }
  });
});
