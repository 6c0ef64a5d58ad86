import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasVenv, venvPython } from './env.ts';
import { runBench } from './index.ts';
import type { MemoryFitResult } from './memory-fit.ts';
import type { SamplingResult } from './sampling.ts';
import type { TrainingCaseResult } from './training.ts';

// Every benchmark end to end at toy sizes (scale `smoke`), so the harness cannot rot. Timings
// are never asserted: only that each benchmark produced complete, consistent records.
const venvRequired = process.env.CI === 'true' && process.env.ANNEAL_BENCH_VENV === '1';
const tmp = mkdtempSync(join(tmpdir(), 'anneal-bench-smoke-'));
const home = join(tmp, 'home');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm run bench (smoke scale)', () => {
  it.runIf(!hasVenv() && venvRequired)('has the reference venv when CI promises one', () => {
    expect.fail(`${venvPython} is missing: run bench/setup.sh`);
  });

  it('sampling reports images/s and NFE for every sampler (no venv needed)', async () => {
    const dir = join(tmp, 'sampling');
    const run = await runBench({
      scale: 'smoke',
      only: ['sampling'],
      resultsDir: dir,
      markdownPath: null,
      home,
    });
    const s = run.files[0]?.result.result as SamplingResult;
    expect(s.samplers.map((x) => x.sampler)).toEqual(['ddpm', 'ddim', 'euler', 'heun', 'dpmpp-2m']);
    for (const x of s.samplers) {
      expect(x.images_per_s).toBeGreaterThan(0);
      expect(x.fd).toBeNull();
    }
    // Heun evaluates twice per step except the last (to sigma = 0); the others once.
    const nfe = Object.fromEntries(s.samplers.map((x) => [x.sampler, x.nfe_per_image]));
    expect(nfe.euler).toBe(2);
    expect(nfe.heun).toBe(3);
  });

  it('memory-fit records the estimate beside the measured peak (no venv needed)', async () => {
    const dir = join(tmp, 'memory-fit');
    const md = join(tmp, 'memory-fit.md');
    const run = await runBench({
      scale: 'smoke',
      only: ['memory-fit'],
      resultsDir: dir,
      markdownPath: md,
      home,
    });
    const r = run.files[0]?.result.result as MemoryFitResult;
    expect(r.rows).toHaveLength(1);
    for (const row of r.rows) {
      expect(row.measured_peak_bytes).toBeGreaterThan(0);
      expect(row.ratio).toBeCloseTo(row.measured_peak_bytes / row.estimate_bytes, 12);
      expect(row.micro_batch * row.accumulationSteps).toBe(row.batch);
      // The estimate the batch planner trusts covers the peak the budget check reads.
      expect(row.measured_peak_bytes).toBeLessThanOrEqual(row.estimate_bytes);
    }
    // One row fits nothing; the fit needs two.
    expect(r.fit).toBeNull();
    expect(readFileSync(md, 'utf8')).toMatch(
      /## Training memory: the estimate against the measured peak/,
    );
  });

  it.runIf(hasVenv())('training, interop and ceiling write results and RESULTS.md', async () => {
    const dir = join(tmp, 'all');
    const md = join(tmp, 'RESULTS.md');
    const run = await runBench({
      scale: 'smoke',
      only: ['training', 'interop', 'ceiling'],
      resultsDir: dir,
      markdownPath: md,
      home,
    });
    expect(run.files.map((f) => f.name)).toEqual(['training', 'interop', 'ceiling']);
    for (const f of run.files) expect(existsSync(f.path)).toBe(true);
    const training = run.files[0]?.result.result as TrainingCaseResult[];
    for (const t of training) {
      expect(t.contenders.map((c) => c.impl)).toEqual([
        'anneal-engine',
        'mlx-python',
        'diffusers-torch',
      ]);
      expect(new Set(t.contenders.map((c) => c.params)).size).toBe(1);
      for (const c of t.contenders) expect(c.images_per_s).toBeGreaterThan(0);
    }
    const text = readFileSync(md, 'utf8');
    expect(text).toMatch(/## Training throughput/);
    expect(text).toMatch(/## Interop/);
    expect(text).toMatch(/load average/);
    expect(text).toMatch(/\| conv \|/);
  });
});
