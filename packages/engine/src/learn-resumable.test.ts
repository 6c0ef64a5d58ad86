import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presetUNet } from './config/presets.ts';
import { learnScheduleResumable } from './learn-resumable.ts';
import { type LearnScheduleSpec, Model } from './model.ts';

// A tiny random model saved to a folder (its weights name the state), a short reference and
// two sweeps: enough coordinates to stop in the middle of the descent.
const root = mkdtempSync(join(tmpdir(), 'anneal-learn-resumable-'));
const saved = join(root, 'model');
{
  const m = Model.create(
    {
      unet: { ...presetUNet('tiny', { resolution: 8, channels: 1 }), block_out_channels: [16, 32] },
      parameterization: 'eps',
    },
    3,
  );
  m.save(saved);
  m.dispose();
}
const model = Model.load(saved);
afterAll(() => model.dispose());

const spec: LearnScheduleSpec = {
  sampler: 'dpmpp-2m',
  nfe: 5,
  n: 4,
  reference: { sampler: 'heun', steps: 12 },
  sweeps: 2,
};
/** What a learn decided, without the bookkeeping flags. */
const outcome = (r: Awaited<ReturnType<Model['learnSchedule']>>) => ({
  sigmas: r.sigmas,
  dpSigmas: r.dpSigmas,
  baselineTrain: r.baselineTrain,
  baselineHeldout: r.baselineHeldout,
  learnedTrain: r.learnedTrain,
  learnedHeldout: r.learnedHeldout,
  evaluations: r.evaluations,
});

describe('resumable schedule learning', () => {
  it('learns what a plain learn does, and reuses the reference record for another sampler and NFE', async () => {
    const dir = join(root, 'state');
    const plain = await model.learnSchedule(spec);
    const phases: string[] = [];
    const kept = await learnScheduleResumable(
      model,
      { ...spec, onProgress: (p) => phases.push(p.phase) },
      dir,
    );
    expect(kept.referenceReused).toBe(false);
    expect(kept.resumed).toBe(false);
    expect(outcome(kept)).toEqual(outcome(plain));
    expect(phases).toContain('reference');
    expect(existsSync(kept.referenceFile)).toBe(true);
    // Finished: its checkpoint is gone, the reference stays for the next learn.
    expect(existsSync(kept.checkpointFile)).toBe(false);

    const other = { ...spec, sampler: 'euler' as const, nfe: 4 };
    const otherPhases: string[] = [];
    const reused = await learnScheduleResumable(
      model,
      { ...other, onProgress: (p) => otherPhases.push(p.phase) },
      dir,
    );
    expect(reused.referenceReused).toBe(true);
    expect(reused.referenceFile).toBe(kept.referenceFile);
    expect(otherPhases).not.toContain('reference');
    expect(outcome(reused)).toEqual(outcome(await model.learnSchedule(other)));
    expect(readdirSync(dir)).toEqual([expect.stringMatching(/^reference-[0-9a-f]{24}\.json$/)]);
  });

  it('continues a learn stopped in the middle of the descent to the uninterrupted result', async () => {
    const whole = await learnScheduleResumable(model, spec, join(root, 'whole'));
    const dir = join(root, 'stopped');
    const stop = new AbortController();
    let checkpoints = 0;
    const stopped = await learnScheduleResumable(
      model,
      {
        ...spec,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.checkpoint && ++checkpoints === 3) stop.abort();
        },
      },
      dir,
    );
    expect(stopped.cancelled).toBe(true);
    expect(existsSync(stopped.checkpointFile)).toBe(true);
    expect(stopped.evaluations).toBeLessThan(whole.evaluations);
    const resumed = await learnScheduleResumable(model, spec, dir);
    expect(resumed.resumed).toBe(true);
    expect(resumed.referenceReused).toBe(true);
    expect(outcome(resumed)).toEqual(outcome(whole));
    expect(existsSync(resumed.checkpointFile)).toBe(false);
  });

  it('refuses a damaged state file, naming it', async () => {
    const dir = join(root, 'damaged');
    const first = await learnScheduleResumable(model, { ...spec, sweeps: 0 }, dir);
    writeFileSync(first.referenceFile, '{"key": ');
    await expect(learnScheduleResumable(model, { ...spec, sweeps: 0 }, dir)).rejects.toThrow(
      `${first.referenceFile} is not a learning state file`,
    );
  });
});
