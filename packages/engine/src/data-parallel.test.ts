import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materialize } from '@anneal/datasets/shards';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentGroup, joinGroup, Model, presetUNet, Trainer } from './index.ts';
import { readWeights, weightDiff } from './testing/weights.ts';

// Data parallelism on MLX's ring backend over loopback (issue 18): R processes, each with its
// rows of every batch, all_sum their gradients inside the step and take the steps one process
// takes at the same batch. The rows keep their random draws (BatchRows), so the only
// difference from one process is where the per-example gradients are summed: the same
// tolerances as gradient accumulation (accumulation.test.ts says why).

const require = createRequire(import.meta.url);
const tsx = require.resolve('tsx');
const child = join(import.meta.dirname, 'data-parallel.child.ts');
const home = mkdtempSync(join(tmpdir(), 'anneal-data-parallel-'));
let shards = '';

beforeAll(async () => {
  const m = await materialize(
    { kind: 'builtin', name: 'shapes', options: { count: 200, heldOut: 20, seed: 4 } },
    { resolution: 8, home },
  );
  shards = m.manifest.splits.train.shards.map((s) => join(m.dir, s.file)).join(',');
});
// Every process a test started; a rank left waiting on a failed peer is ended here.
const started: ChildProcess[] = [];
afterAll(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

const LR = 1e-3;
const STEPS = 3;

interface Run {
  code: number | null;
  steps: Array<{ loss: number; gradNorm: number; batch: number }>;
  stderr: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

function start(
  args: string[],
  env: Record<string, string>,
): { proc: ChildProcess; done: Promise<Run> } {
  const proc = spawn(process.execPath, ['--import', tsx, child, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(proc);
  let out = '';
  let stderr = '';
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) =>
    proc.on('close', (code) =>
      resolve({
        code,
        stderr,
        steps: out
          .split('\n')
          .filter((l) => l.startsWith('{"loss"'))
          .map((l) => JSON.parse(l)),
      }),
    ),
  );
  return { proc, done };
}

/**
 * Runs `ranks` processes as one ring group on loopback. A rank that fails takes the others
 * down (a surviving rank would wait on its peer), as the launcher does.
 */
async function group(ranks: number, args: string[]): Promise<Run[]> {
  const dir = mkdtempSync(join(home, 'group-'));
  const hosts = [];
  for (let r = 0; r < ranks; r++) hosts.push([`127.0.0.1:${await freePort()}`]);
  writeFileSync(join(dir, 'hosts.json'), JSON.stringify(hosts));
  const procs = hosts.map((_, r) =>
    start(args, { MLX_RANK: String(r), MLX_HOSTFILE: join(dir, 'hosts.json') }),
  );
  for (const p of procs)
    void p.done.then((r) => {
      if (r.code !== 0) for (const q of procs) q.proc.kill('SIGKILL');
    });
  return Promise.all(procs.map((p) => p.done));
}

function expectSameWeights(a: string, b: string) {
  const d = weightDiff(
    readWeights(join(a, 'model.safetensors')),
    readWeights(join(b, 'model.safetensors')),
    1e-3 * LR,
  );
  expect(d.max).toBeLessThanOrEqual(STEPS * 0.05 * LR);
  expect(d.share).toBeLessThanOrEqual(0.01);
}

function expectSameSteps(a: Run['steps'], b: Run['steps']) {
  expect(a).toHaveLength(STEPS);
  expect(b).toHaveLength(STEPS);
  for (const [i, r] of a.entries()) {
    const s = b[i] as Run['steps'][number];
    expect(s.batch).toBe(r.batch);
    expect(Math.abs(s.loss - r.loss)).toBeLessThanOrEqual(1e-5 * r.loss);
    expect(Math.abs(s.gradNorm - r.gradNorm)).toBeLessThanOrEqual(1e-5 * r.gradNorm);
  }
}

describe('data-parallel training on the ring backend (loopback)', () => {
  let reference: { dir: string; run: Run };
  beforeAll(async () => {
    const dir = mkdtempSync(join(home, 'single-'));
    reference = { dir, run: await start([shards, String(STEPS), '8', dir], {}).done };
    expect(reference.run.code, reference.run.stderr).toBe(0);
  }, 120_000);

  for (const k of [1, 2]) {
    it(`2 ranks x ${k} micro-batch${k > 1 ? 'es' : ''} take the steps of one process at batch 8`, async () => {
      const dir = mkdtempSync(join(home, `ranks-${k}-`));
      mkdirSync(dir, { recursive: true });
      const runs = await group(2, [shards, String(STEPS), '8', dir, String(k)]);
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
      const [rank0, rank1] = runs as [Run, Run];
      // Every rank holds the same all_summed gradients, so the same numbers to the last bit.
      expect(rank1.steps).toEqual(rank0.steps);
      expectSameSteps(reference.run.steps, rank0.steps);
      expectSameWeights(reference.dir, dir);
    }, 120_000);
  }

  it('refuses a batch the ranks and micro-batches do not divide, naming the numbers', async () => {
    const runs = await group(2, [shards, '1', '6', mkdtempSync(join(home, 'bad-')), '2']);
    // Every rank refuses alike; the first to exit takes the other down (group()), which may
    // end before it has said why.
    for (const r of runs) expect(r.code).not.toBe(0);
    const said = runs.filter((r) => r.stderr.trim() !== '');
    expect(said.length).toBeGreaterThan(0);
    for (const r of said)
      expect(r.stderr).toMatch(/batchSize \(6\) must split into 2 ranks x 2 micro-batches/);
  }, 120_000);

  it('refuses data-parallel training in a process that joined no group', () => {
    expect(currentGroup()).toBeNull();
    const model = Model.create(
      { unet: presetUNet('tiny', { resolution: 8, channels: 3, numClasses: 5 }) },
      1,
    );
    expect(() =>
      Trainer.create({
        model,
        shards: shards.split(','),
        numClasses: 5,
        batch: 8,
        totalSteps: 1,
        dataParallel: true,
      }),
    ).toThrow(/dataParallel: this process joined no group/);
    model.dispose();
    expect(() => joinGroup('carrier-pigeon' as 'ring')).toThrow(
      /backend 'carrier-pigeon' is not available/,
    );
  });
});
