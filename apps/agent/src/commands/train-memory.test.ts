import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { estimateTrainingMemory, planBatch, presetUNet } from '@anneal/engine/config';
import { describe, expect, it } from 'vitest';
import { runAnneal } from '../testing/run-cli.ts';

// anneal train's batch planner (issue 16 §3): --batch stays the effective batch; a batch
// that does not fit the budget runs as micro-batches whose gradients are accumulated.

const home = mkdtempSync(join(tmpdir(), 'anneal-train-memory-'));
const anneal = (args: string[]) => runAnneal(args, home);
// The small preset: its estimate has the least headroom over the measured peak of the
// presets (bench/RESULTS.md, memory-fit), so the peak check below can catch an under-estimate.
const unet = presetUNet('small', { resolution: 16, channels: 3, numClasses: 5 });
// Room for micro-batches of 4 (with the accumulated gradients' buffer), not for 8 at once.
const budget = estimateTrainingMemory(unet, 4, 'float32', 2).total;
const args = (out: string, more: string[] = []) => [
  'train',
  '--dataset',
  'shapes',
  '--resolution',
  '16',
  '--preset',
  'small',
  '--dtype',
  'float32',
  '--batch',
  '8',
  '--steps',
  '3',
  '--log-every',
  '1',
  '--sample-every',
  '0',
  '--memory-budget',
  `${budget}B`,
  '--out',
  out,
  ...more,
];

describe('anneal train within a memory budget', () => {
  it('accumulates micro-batches when the batch does not fit, says so, and stays within the budget', () => {
    expect(estimateTrainingMemory(unet, 8).total).toBeGreaterThan(budget);
    const out = join(mkdtempSync(join(tmpdir(), 'anneal-train-memory-')), 'run');
    const r = anneal(args(out));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/batch 8 \(2 micro-batches of 4, gradients accumulated/);
    const training = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    expect(training).toMatchObject({ batch: 8, micro_batch: 4, accumulation_steps: 2 });
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { peak_memory_bytes: number });
    // Three steps: from the second on, the rollback snapshot (step 0) differs from the live state.
    expect(metrics).toHaveLength(3);
    for (const m of metrics) expect(m.peak_memory_bytes).toBeLessThanOrEqual(budget);
  }, 120_000);

  it('with --no-accumulation refuses the batch before training, naming what would fit', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'anneal-train-memory-')), 'run');
    const r = anneal(args(out, ['--no-accumulation']));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /batch 8 does not fit at 16x16, fused attention, float32: .*allow gradient accumulation \(2 micro-batches of 4 would fit\)/,
    );
  }, 120_000);

  it('refuses a job whose one image cannot fit, naming the estimate and the budget', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'anneal-train-memory-')), 'run');
    const r = anneal([...args(out), '--memory-budget', '1MiB']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /even one image does not fit at 16x16, fused attention, float32: estimated [\d.]+ MiB .*exceeds the budget of 1\.0 MiB \(configured as 1MiB\); lower the resolution/,
    );
  }, 120_000);

  it('without --batch keeps the default effective batch of 32 on any budget, as micro-batches, and refuses with the numbers', () => {
    const noBatch = (out: string, bytes: string) => {
      const a = args(out);
      a.splice(a.indexOf('--batch'), 2);
      a.splice(a.indexOf('--steps') + 1, 1, '1');
      a.splice(a.indexOf('--memory-budget') + 1, 1, bytes);
      return a;
    };
    // Room for micro-batches of 8, not for 16 or the whole 32.
    const room = estimateTrainingMemory(unet, 8, 'float32', 4).total;
    expect(estimateTrainingMemory(unet, 16, 'float32', 2).total).toBeGreaterThan(room);
    const out = join(mkdtempSync(join(tmpdir(), 'anneal-train-memory-')), 'run');
    const r = anneal(noBatch(out, `${room}B`));
    expect(r.status, r.stderr).toBe(0);
    const training = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    expect(training).toMatchObject({ batch: 32, micro_batch: 8, accumulation_steps: 4 });
    const refused = anneal(noBatch(join(out, 'none'), '1MiB'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /even one image does not fit at 16x16, fused attention, float32: estimated [\d.]+ MiB .*exceeds the budget of 1\.0 MiB/,
    );
  }, 120_000);
});

describe('anneal train --resolutions within a memory budget', () => {
  it('plans each stage at its own resolution: the 16 px stage accumulates, the peak stays within the budget', () => {
    // The budget fits micro-batches of 4 at 16 px (not 8); the 8 px stage gets what the
    // planner says for 8x8 under the same budget (the whole batch of 8 or fewer micro-batches).
    const at8 = planBatch({
      unet,
      resolution: { height: 8, width: 8 },
      batch: 8,
      budget: { bytes: budget, source: 'test' },
    });
    expect(at8.accumulationSteps).toBeLessThan(2);
    const out = join(mkdtempSync(join(tmpdir(), 'anneal-train-memory-')), 'run');
    const r = anneal([
      ...args(out),
      '--resolutions',
      '8,16',
      '--steps',
      '4',
      '--checkpoint-every',
      '4',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const training = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    expect(training.bucket_plans).toEqual([
      { height: 8, width: 8, micro_batch: at8.microBatch, accumulation_steps: 1 },
      { height: 16, width: 16, micro_batch: 4, accumulation_steps: 2 },
    ]);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { resolution: number; peak_memory_bytes: number });
    expect(metrics.map((m) => m.resolution)).toEqual([8, 8, 16, 16]);
    for (const m of metrics) expect(m.peak_memory_bytes).toBeLessThanOrEqual(budget);
  }, 120_000);
});
