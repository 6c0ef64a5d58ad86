import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

  it('continues a learn stopped anywhere in the descent to the uninterrupted result', async () => {
    const whole = await learnScheduleResumable(model, spec, join(root, 'whole'));
    // dpmpp-2m at 5 NFE: 4 coordinates per sweep, 2 sweeps. Stopped at the first coordinate,
    // inside the first sweep, at the first coordinate of the second (the move halved) and at
    // the last.
    for (const at of [1, 3, 5, 8]) {
      const dir = join(root, `stopped-${at}`);
      const stop = new AbortController();
      let seen = 0;
      let where: { sweep: number; k: number } | null = null;
      const stopped = await learnScheduleResumable(
        model,
        {
          ...spec,
          signal: stop.signal,
          onProgress: (p) => {
            if (p.checkpoint && ++seen === at) {
              where = { sweep: p.checkpoint.sweep, k: p.checkpoint.k };
              stop.abort();
            }
          },
        },
        dir,
      );
      expect(where, `checkpoint ${at}`).toEqual({
        sweep: Math.floor((at - 1) / 4),
        k: ((at - 1) % 4) + 1,
      });
      expect(stopped.cancelled).toBe(true);
      expect(existsSync(stopped.checkpointFile)).toBe(true);
      const resumed = await learnScheduleResumable(model, spec, dir);
      expect(resumed.resumed).toBe(true);
      expect(resumed.referenceReused).toBe(true);
      expect(outcome(resumed), `stopped at checkpoint ${at}`).toEqual(outcome(whole));
      expect(existsSync(resumed.checkpointFile)).toBe(false);
    }
  });

  it('keeps a reference record per start sigma: another initial schedule from the same sigmaMax draws its own', async () => {
    const dir = join(root, 'starts');
    const { sigmaMin, sigmaMax } = model.sigmaRange();
    const below = Math.sqrt(sigmaMin * sigmaMax);
    // Karras starts at sigmaMax itself; uniform-in-t at the largest table sigma below it.
    const karras = { ...spec, sweeps: 0, initial: 'karras' as const, sigmaMax: below };
    const uniform = { ...karras, initial: 'uniform' as const };
    const uStart = model.scheduleSigmas({
      sampler: 'dpmpp-2m',
      steps: 5,
      schedule: 'uniform',
      sigmaMax: below,
    })[0];
    expect(uStart).toBeLessThan(below);
    const a = await learnScheduleResumable(model, karras, dir);
    const b = await learnScheduleResumable(model, uniform, dir);
    expect(b.referenceReused).toBe(false);
    expect(b.referenceFile).not.toBe(a.referenceFile);
    expect(b.sigmas[0]).toBe(uStart);
    expect((await learnScheduleResumable(model, uniform, dir)).referenceReused).toBe(true);
  });

  it('refuses a damaged state file, naming it and what is wrong', async () => {
    const dir = join(root, 'damaged');
    const first = await learnScheduleResumable(model, { ...spec, sweeps: 0 }, dir);
    const record = readFileSync(first.referenceFile, 'utf8');
    writeFileSync(first.referenceFile, '{"key": ');
    await expect(learnScheduleResumable(model, { ...spec, sweeps: 0 }, dir)).rejects.toThrow(
      `${first.referenceFile} is not a usable learning state file (`,
    );
    writeFileSync(first.referenceFile, record);
    // A checkpoint whose error was written as null (JSON's NaN): named, not passed on.
    const stop = new AbortController();
    const stopped = await learnScheduleResumable(
      model,
      { ...spec, signal: stop.signal, onProgress: (p) => p.checkpoint && stop.abort() },
      dir,
    );
    const c = JSON.parse(readFileSync(stopped.checkpointFile, 'utf8'));
    writeFileSync(
      stopped.checkpointFile,
      JSON.stringify({ ...c, checkpoint: { ...c.checkpoint, bestError: null } }),
    );
    await expect(learnScheduleResumable(model, spec, dir)).rejects.toThrow(
      /is not a usable learning state file \(checkpoint\.bestError: .*\); remove it/,
    );
  });
});
