import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { presetUNet } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import {
  benchProgressive,
  type ProgressiveArm,
  progressiveSection,
  summarizeProgressive,
} from './progressive.ts';

const arm = (name: 'fixed' | 'progressive', fds: [number, number][]): ProgressiveArm => ({
  name,
  resolutions: name === 'fixed' ? [32] : [16, 32],
  stage_steps: name === 'fixed' ? [200] : [100, 100],
  curve: fds.map(([train_s, fd], i) => ({
    step: 50 * (i + 1),
    train_s,
    resolution: 32,
    fd,
    peak_bytes: 1,
  })),
  time_to_target_s: null,
  step_to_target: null,
});

describe('summarizeProgressive', () => {
  it('reads each arm at its first FD at or below the target, and the time ratio', () => {
    const fixed = arm('fixed', [
      [10, 9],
      [20, 4],
      [30, 3],
      [40, 2.5],
    ]);
    const progressive = arm('progressive', [
      [3, 8],
      [6, 2.9],
      [16, 2.6],
      [26, 2.4],
    ]);
    // Default target: 1.2 x the fixed arm's last FD = 3.
    const r = summarizeProgressive([fixed, progressive], 'probe');
    expect(r.target_fd).toBeCloseTo(3, 12);
    expect([fixed.step_to_target, fixed.time_to_target_s]).toEqual([150, 30]);
    expect([progressive.step_to_target, progressive.time_to_target_s]).toEqual([100, 6]);
    expect(r.time_ratio).toBeCloseTo(0.2, 12);
    // A stated target neither reaches: no ratio.
    const never = summarizeProgressive([fixed, progressive], 'probe', 1);
    expect([never.time_ratio, fixed.time_to_target_s, progressive.step_to_target]).toEqual([
      null,
      null,
      null,
    ]);
  });
});

const home = mkdtempSync(join(tmpdir(), 'anneal-bench-progressive-'));
async function shardsAt(resolutions: number[]) {
  const shards: Record<number, string[]> = {};
  for (const r of resolutions) {
    const m = await materialize(
      { kind: 'builtin', name: 'shapes', options: { count: 60, heldOut: 10, seed: 1 } },
      { resolution: r, home },
    );
    shards[r] = m.manifest.splits.train.shards.map((s) => join(m.dir, s.file));
  }
  return shards;
}
const tinyAt16 = {
  unet: {
    ...presetUNet('tiny', { resolution: 16, channels: 3, numClasses: 5 }),
    block_out_channels: [16, 32],
  },
  parameterization: 'v' as const,
};
// Not FD: the mean pixel value's distance from mid-grey, enough to see the plumbing (the
// agent passes the real extractor's FD); deterministic, so exact resume shows in it.
const meanDistance = (seen?: number[][]) => ({
  describe: 'mean |pixel - 128|',
  fd: async (images: Uint8Array, shape: [number, number, number, number]) => {
    seen?.push(shape);
    return images.reduce((a, v) => a + Math.abs(v - 128), 0) / images.length;
  },
});

/** Tiny arms, 8 -> 16 px, a reading every 2 steps. */
const tinyRun = async (stageSteps: number[], seen?: number[][]) => ({
  config: tinyAt16,
  shards: await shardsAt([8, 16]),
  numClasses: 5,
  resolutions: [8, 16],
  stageSteps,
  batch: 4,
  evalEvery: 2,
  sample: { sampler: 'ddim' as const, steps: 2, n: 4 },
  quality: meanDistance(seen),
});

describe('benchProgressive', () => {
  it('trains both arms in alternating chunks and reads FD at the final resolution', async () => {
    const seen: number[][] = [];
    const result = await benchProgressive(await tinyRun([2, 2], seen));
    // Every reading samples at the final resolution, whatever stage the arm is in.
    for (const s of seen) expect(s).toEqual([4, 16, 16, 3]);
    const [fixed, progressive] = result.arms;
    expect(fixed?.curve.map((p) => [p.step, p.resolution])).toEqual([
      [2, 16],
      [4, 16],
    ]);
    expect(progressive?.curve.map((p) => [p.step, p.resolution])).toEqual([
      [2, 8],
      [4, 16],
    ]);
    expect(result.target_source).toBe('fixed arm x 1.2');
    expect(progressiveSection({ result } as never)).toMatch(
      /\| progressive \| 8 -> 16 \| 2 \+ 2 \|/,
    );
  }, 120_000);

  it('continues a stopped run from its state folder exactly where it was', async () => {
    const options = await tinyRun([2, 4]);
    const whole = await benchProgressive(options);
    const stateRoot = join(home, 'state');
    // Stopped after its first chunk (both arms' checkpoints and the curves were kept first).
    await expect(
      benchProgressive({
        ...options,
        stateRoot,
        onPartial: () => {
          throw new Error('stopped');
        },
      }),
    ).rejects.toThrow('stopped');
    const lines: string[] = [];
    const resumed = await benchProgressive({ ...options, stateRoot, log: (l) => lines.push(l) });
    expect(lines[0]).toMatch(/^progressive: continuing at step 2 of 6 from /);
    expect(resumed.resumed_at).toEqual([2]);
    const points = (r: typeof whole) =>
      r.arms.map((a) => a.curve.map((p) => [p.step, p.resolution, p.fd]));
    expect(points(resumed)).toEqual(points(whole));
    // A finished run is read back, not trained again.
    const again = await benchProgressive({ ...options, stateRoot });
    expect(points(again)).toEqual(points(whole));
    expect(again.resumed_at).toEqual([2]);
  }, 240_000);
});
