import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinContentHash } from '@anneal/datasets/hash';
import { type JobOffer, type TrainSpecInput, trainSpecSchema } from '@anneal/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunContext } from '../kinds/kind.ts';
import { trainAgentKind } from '../kinds/train.ts';
import { runAnneal } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-train-args-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

// Every field set away from its default, so a field that does not reach the trainer shows.
const spec: TrainSpecInput = {
  dataset: {
    kind: 'builtin',
    name: 'shapes',
    options: { count: 40, heldOut: 8, seed: 3, shapesPerImage: 2, texture: 'noise', edges: 'hard' },
  },
  resolution: 16,
  preset: 'tiny',
  steps: 3,
  resolutions: [8, 16],
  stage_steps: [1, 2],
  schedule_shift: false,
  // true needs a dataset version of mixed sizes (train-resolutions.test.ts); false still
  // differs from the default (absent).
  multi_resolution: false,
  batch: 4,
  lr: 5e-3,
  warmup: 1,
  lr_schedule: 'constant',
  min_lr: 1e-4,
  loss_weighting: 'min-snr',
  min_snr_gamma: 3,
  cfg_dropout: 0.25,
  ema_decay: 0.9,
  grad_clip: 0.5,
  seed: 5,
  dtype: 'float32',
  conditional: false,
  parameterization: 'x0',
  checkpoint_every: 2,
  log_every: 1,
  sample_every: 3,
};

describe('a train job spec reaches the trainer whole', () => {
  it('the test sets every field of trainSpecSchema', () => {
    // But ranks: a group's offer makes each child one rank (--hostfile, --rank), and it takes
    // one resolution; group-train.test.ts trains such a job.
    expect(Object.keys(spec).sort()).toEqual(
      Object.keys(trainSpecSchema.shape)
        .filter((k) => k !== 'ranks')
        .sort(),
    );
  });

  it('every field of the spec is what `anneal train` gives the trainer (training.json)', async () => {
    const parsed = trainSpecSchema.parse(spec);
    const offer = {
      type: 'job_offer',
      jobId: '00000000-0000-4000-8000-000000000001',
      leaseId: '00000000-0000-4000-8000-000000000002',
      runId: '00000000-0000-4000-8000-000000000003',
      projectId: '00000000-0000-4000-8000-000000000004',
      leaseExpiresAt: new Date().toISOString(),
      attempt: 1,
      job: { type: 'train', spec: parsed },
      resume: null,
    } as JobOffer;
    const out = join(home, 'out');
    const args = await trainAgentKind.args(parsed, { offer, out, resume: false } as RunContext);
    const r = runAnneal(args, home);
    expect(r.status, r.stderr).toBe(0);
    const training = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    for (const key of Object.keys(trainSpecSchema.shape))
      expect(training[key], `spec field ${key}`).toEqual(parsed[key as keyof typeof parsed]);
    // The generator options chose the data: its hash is theirs, not the defaults'.
    expect(training.dataset_hash).toBe(builtinContentHash(parsed.dataset as never));
    expect(training.dataset_hash).not.toBe(builtinContentHash({ kind: 'builtin', name: 'shapes' }));
    // The learning rate the trainer stepped with peaks at the spec's, above the preset's 1e-3.
    const lrs = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { lr: number }).lr);
    expect(lrs).toHaveLength(3);
    expect(Math.max(...lrs)).toBeGreaterThan(1e-3);
    expect(Math.max(...lrs)).toBeLessThanOrEqual(5e-3 * (1 + 1e-6));
    // A constant schedule keeps the peak after the one warmup step; cosine would decay it.
    expect(lrs[2]).toBeCloseTo(5e-3, 9);
  });
});
