import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';
import { describe, expect, it } from 'vitest';
import { expectSameCurve } from '../testing/curves.ts';
import { runAnneal, runAnnealHere, TINY_SHAPES } from '../testing/run-cli.ts';
import { loopbackHostfile } from './train-ranks.ts';

// `anneal train --ranks 2`: two processes on MLX's ring backend over loopback train as one
// run (issue 18, items 2 and 4). Rank 0 writes; the loss curve is the one-process curve at the
// same batch (the engine's data-parallel test bounds the weights); a rank that dies fails the
// group, and --resume goes on from the last checkpoint with no metric line lost or repeated.

const home = mkdtempSync(join(tmpdir(), 'anneal-ranks-'));
const run = (out: string, steps: number, ...more: string[]) => [
  'train',
  ...TINY_SHAPES,
  ...['--steps', String(steps), '--out', out, '--checkpoint-every', '10', '--sample-every', '0'],
  ...more,
];
const metrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { step: number; loss: number; grad_norm: number })
    .map((m) => ({ ...m, at: m.step }));

describe('anneal train --ranks', () => {
  const single = join(home, 'single');
  it('trains with 2 ranks the curve one process trains at the same batch; rank 0 writes', () => {
    const one = runAnneal(run(single, 30), home);
    expect(one.status, one.stderr).toBe(0);
    const out = join(home, 'two');
    const two = runAnneal(run(out, 30, '--ranks', '2', '--json'), home);
    expect(two.status, two.stderr).toBe(0);
    expect(two.json).toMatchObject({ steps: 30, ranks: 2, rank: 0 });
    expectSameCurve(metrics(out), metrics(single));
    const training = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
    expect(training).toMatchObject({ batch: 8, ranks: 2, backend: 'ring', batch_per_rank: 4 });
    const sittings = readFileSync(join(out, 'stages.jsonl'), 'utf8').trim().split('\n');
    expect(sittings).toHaveLength(1);
    expect(JSON.parse(sittings[0] as string)).toMatchObject({
      ranks: 2,
      from_step: 0,
      to_step: 30,
    });
  }, 180_000);

  it('fails the group when one rank is killed, and --resume goes on from the last checkpoint', async () => {
    const out = join(home, 'killed');
    const launcher = spawn(
      process.execPath,
      [join(repoRoot, 'apps/agent/bin/anneal.js'), ...run(out, 30, '--ranks', '2')],
      { env: { ...process.env, ANNEAL_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number | null>((r) => launcher.on('close', (code) => r(code)));
    // Past the step-20 checkpoint (or the run ended early: then the test fails, naming why).
    const past = new Promise<void>((resolve, reject) => {
      launcher.stderr.on('data', (d) => {
        stderr += d;
        if (/step 20\/30/.test(stderr)) resolve();
      });
      launcher.on('close', (code) => reject(new Error(`the run ended (${code}) first: ${stderr}`)));
    });
    await past;
    // Rank 1 is a child of the launcher whose arguments end in --rank 1.
    const pid = execFileSync('pgrep', ['-P', String(launcher.pid), '-f', '--', '--rank 1$'], {
      encoding: 'utf8',
    }).trim();
    expect(pid).toMatch(/^\d+$/);
    process.kill(Number(pid), 'SIGKILL');
    expect(await exited).not.toBe(0);
    // Rank 1's death is what the launcher sees first (rank 0 could only fail after it).
    expect(stderr).toMatch(/rank 1 of 2 was killed \(SIGKILL\); the other ranks were stopped/);
    // No rank is left behind waiting on its peer.
    expect(() => execFileSync('pgrep', ['-f', '--', `--out ${out} `])).toThrow();
    const before = metrics(out).at(-1)?.step as number;
    expect(before).toBeGreaterThanOrEqual(20);
    const again = runAnneal(run(out, 30, '--ranks', '2', '--resume'), home);
    expect(again.status, again.stderr).toBe(0);
    // Resumed at the last checkpoint (a multiple of 10): the lines past it were dropped and
    // written again, none missing and none twice, and the curve is the uninterrupted one.
    expectSameCurve(metrics(out), metrics(single));
  }, 180_000);

  it('refuses ranks started with different flags, on every rank, naming the field', async () => {
    // Two ranks by hand, as on two Macs, one with another --steps.
    const hosts = await loopbackHostfile(2);
    const hostfile = join(home, 'hosts-mismatch.json');
    writeFileSync(hostfile, JSON.stringify(hosts));
    const rank = (r: number, steps: number) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = spawn(
          process.execPath,
          [
            join(repoRoot, 'apps/agent/bin/anneal.js'),
            ...run(join(home, `mismatch-${r}`), steps, '--hostfile', hostfile, '--rank', String(r)),
          ],
          { env: { ...process.env, ANNEAL_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        p.stderr.on('data', (d) => (stderr += d));
        p.on('close', (code) => resolve({ code, stderr }));
      });
    const [a, b] = await Promise.all([rank(0, 30), rank(1, 40)]);
    for (const r of [a, b]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the ranks disagree on steps \(this rank: (30|40)\)/);
    }
  }, 120_000);

  it.each([
    [
      ['--ranks', '2', '--resolutions', '8,16'],
      /--ranks: data-parallel training takes one resolution/,
    ],
    [
      ['--hostfile', join(home, 'hosts.json')],
      /--hostfile: give --hostfile FILE and --rank R together/,
    ],
    [['--ranks', '1'], /--ranks/],
  ])('refuses %j, naming the problem', async (flags, message) => {
    const r = await runAnnealHere(run(join(home, 'refused'), 4, ...flags), home);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
