// anneal distill --ranks: progressive distillation on two ranks of this machine (MLX's ring
// backend over loopback) against one process at the same batch, on a toy teacher. The
// student's per-iteration loss and gradient norm agree within float32 summation-order
// noise, the run decides its stages as one process does, and a signal stops the ranks
// together, resumable. Small: one halving (32 -> 16), 20 iterations, n = 20. About a minute
// on two cores, so it runs under ANNEAL_LONG=1 (`npm run test:long`); the ranks' gradients
// and curve against one process stay in npm test (engine data-parallel.test.ts,
// train-ranks.test.ts).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSameCurve } from '../testing/curves.ts';
import { runAnneal } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-distill-ranks-home-'));
const root = mkdtempSync(join(tmpdir(), 'anneal-distill-ranks-'));
const teacher = join(root, 'teacher');

const long = process.env.ANNEAL_LONG === '1';

beforeAll(() => {
  if (!long) return;
  const r = runAnneal(
    [
      ...['train', '--dataset', 'shapes', '--resolution', '8', '--preset', 'tiny'],
      ...['--parameterization', 'v', '--batch', '8', '--steps', '40', '--out', teacher, '--json'],
    ],
    home,
  );
  expect(r.status, r.stderr).toBe(0);
}, 120_000);

const distill = (out: string, ...more: string[]) => [
  ...['distill', '--teacher', teacher, '--method', 'progressive', '--out', out],
  ...['--min-steps', '16', '--max-iters-per-stage', '20', '--eval-every', '10'],
  ...['--plateau-window', '10', '--eval-n', '20', '--heldout-n', '4', '--batch', '8'],
  ...['--extractor-steps', '60', '--extractor-width', '8', '--quality-budget', '50'],
  ...['--log-every', '1', '--lr', '1e-3', '--ema-decay', '0.9', '--teacher-baselines', 'none'],
  '--json',
  ...more,
];

/** The iterations whose held-out loss the run measured, in order. */
const heldoutIters = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.event === 'heldout')
    .map((l) => `${l.stage}:${l.iter}`);

interface Line {
  stage: number;
  iter?: number;
  loss?: number;
  grad_norm?: number;
  event?: string;
}
const training = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.event === undefined)
    .map((l) => ({
      at: l.iter ?? -1,
      loss: l.loss ?? Number.NaN,
      grad_norm: l.grad_norm ?? Number.NaN,
    }));

describe.runIf(long)('anneal distill --ranks', () => {
  it('distills on 2 ranks the curve one process distills at the same batch; rank 0 writes the run', () => {
    const single = join(root, 'single');
    const one = runAnneal(distill(single), home);
    expect(one.status, one.stderr).toBe(0);
    const out = join(root, 'two');
    const two = runAnneal(distill(out, '--ranks', '2'), home);
    expect(two.status, two.stderr).toBe(0);
    expect(training(single)).toHaveLength(20);
    expectSameCurve(training(out), training(single));
    // The same decision and the same kept student as one process.
    expect(two.json).toMatchObject({ kept: { steps: 16 } });
    expect((two.json as { stages: unknown[] }).stages).toHaveLength(
      (one.json as { stages: unknown[] }).stages.length,
    );
    expect(existsSync(join(out, 'student', 'model.safetensors'))).toBe(true);
    // Rank 1 kept its own folder inside the run's.
    expect(existsSync(join(out, 'ranks', 'rank-1', 'distill-state.json'))).toBe(true);
    // Rank 0 alone times the models at the end (ranks sharing a machine would time each other).
    expect(existsSync(join(out, 'latency.json'))).toBe(true);
    expect(existsSync(join(out, 'ranks', 'rank-1', 'latency.json'))).toBe(false);
  }, 300_000);

  /** Starts `anneal distill ARGS`, stops it with SIGTERM once training logged 3 iterations. */
  async function stopped(args: string[], out: string) {
    const bin = join(repoRoot, 'apps/agent/bin/anneal.js');
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ANNEAL_HOME: home },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (existsSync(join(out, 'metrics.jsonl')) && training(out).length >= 3) break;
    }
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code, err).toBe(130);
  }

  it('a signal stops both ranks at an agreed iteration; --resume --ranks 2 finishes the curve', async () => {
    const out = join(root, 'stopped');
    await stopped(distill(out, '--ranks', '2'), out);
    const resumed = runAnneal(
      ['distill', '--resume', '--out', out, '--ranks', '2', '--json'],
      home,
    );
    expect(resumed.status, resumed.stderr).toBe(0);
    expectSameCurve(training(out), training(join(root, 'single')));
    // The ranks agree to stop on an iteration that is also a held-out boundary (both every
    // 10): the stop measures it before it ends, so the resumed run misses none.
    expect(heldoutIters(out)).toEqual(heldoutIters(join(root, 'single')));
  }, 300_000);

  it('a run begun on one process resumes on 2 ranks (rank 1 seeded from the run)', async () => {
    const out = join(root, 'one-then-two');
    await stopped(distill(out), out);
    expect(existsSync(join(out, 'ranks'))).toBe(false);
    const resumed = runAnneal(
      ['distill', '--resume', '--out', out, '--ranks', '2', '--json'],
      home,
    );
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(existsSync(join(out, 'ranks', 'rank-1', 'distill-state.json'))).toBe(true);
    expectSameCurve(training(out), training(join(root, 'single')));
  }, 300_000);
});
