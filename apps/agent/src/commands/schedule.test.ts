import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { learnedScheduleSchema, Model, presetUNet } from '@anneal/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

// A tiny randomly initialized model: what the schedule is learned on does not need to be good,
// only real (the learner, the file, and sampling from it all go through the engine).
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'anneal-schedule-'));
  const model = Model.create(
    {
      unet: { ...presetUNet('tiny', { resolution: 8, channels: 1 }), block_out_channels: [16, 32] },
      parameterization: 'eps',
    },
    5,
  );
  model.save(join(dir, 'model'));
  model.dispose();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('anneal schedule', () => {
  it('learn writes a valid file that sample --schedule learned then uses', async () => {
    const modelDir = join(dir, 'model');
    const c = capture();
    const code = await main(
      [
        'schedule',
        'learn',
        '--model',
        modelDir,
        '--sampler',
        'euler',
        '--nfe',
        '3',
        '--n',
        '4',
        '--reference',
        'heun:8',
        '--sweeps',
        '1',
        '--json',
      ],
      c.io,
    );
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    const printed = JSON.parse(c.out.at(-1) ?? '{}');
    const file = join(modelDir, 'schedules', 'euler-nfe3.json');
    expect(printed.file).toBe(file);
    const record = learnedScheduleSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    expect(record.sigmas).toHaveLength(4);
    expect(record.scores.hand_crafted?.map((h) => h.schedule)).toEqual([
      'uniform',
      'karras',
      'exponential',
      'ays',
    ]);
    expect(record.scores.learned.train_error).toBeLessThanOrEqual(
      record.scores.baseline.train_error,
    );

    const s = capture();
    const png = join(dir, 'grid.png');
    const args = ['sample', '--model', modelDir, '--out', png, '--n', '2', '--sampler', 'euler'];
    expect(await main([...args, '--steps', '3', '--schedule', 'learned', '--json'], s.io)).toBe(0);
    const summary = JSON.parse(s.out.at(-1) ?? '{}');
    expect(summary.sigmas).toEqual(record.sigmas);
    expect(summary.schedule_file).toBe(file);
    expect(summary.nfe).toBe(3);
    expect(s.err.join('\n')).not.toMatch(/learned at guidance/);

    // The same schedule as if learned at guidance 2: sampling at 1 warns, naming both.
    const guided = join(dir, 'guided.json');
    writeFileSync(
      guided,
      JSON.stringify({ ...record, calibration: { ...record.calibration, guidance: 2 } }),
    );
    const g = capture();
    expect(await main([...args, '--steps', '3', '--schedule', guided], g.io)).toBe(0);
    expect(g.err.join('\n')).toMatch(
      /warning: .*guided\.json was learned at guidance 2, this request uses 1/,
    );

    // The same file at another NFE, or for another sampler, is refused naming both.
    const w = capture();
    expect(await main([...args, '--steps', '4', '--schedule', file], w.io)).toBe(1);
    expect(w.err.join('\n')).toMatch(
      /learned for --sampler euler at 3 NFE; this run asks for --sampler euler at 4 NFE/,
    );
    const m = capture();
    expect(await main([...args, '--steps', '5', '--schedule', 'learned'], m.io)).toBe(1);
    expect(m.err.join('\n')).toMatch(
      /no learned schedule for euler at 5 NFE.*anneal schedule learn/,
    );

    const show = capture();
    expect(await main(['schedule', 'show', '--model', modelDir], show.io)).toBe(0);
    expect(show.out.join('\n')).toMatch(/euler-nfe3\.json[\s\S]*learned/);

    // Another NFE against the same reference and noise reads the reference runs the first kept.
    const again = capture();
    const learnArgs = ['schedule', 'learn', '--model', modelDir, '--sampler', 'dpmpp-2m'];
    const more = ['--nfe', '4', '--n', '4', '--reference', 'heun:8', '--sweeps', '1'];
    expect(await main([...learnArgs, ...more], again.io)).toBe(0);
    expect(again.err.join('\n')).toMatch(
      /reference runs read from .*schedules\/learning\/reference-[0-9a-f]{24}\.json/,
    );
    expect(existsSync(join(modelDir, 'schedules', 'dpmpp-2m-nfe4.json'))).toBe(true);
  });

  it('--sigma-max starts the learned schedule lower, and is checked against the range', async () => {
    const modelDir = join(dir, 'model');
    const c = capture();
    const args = ['schedule', 'learn', '--model', modelDir, '--sampler', 'dpmpp-2m', '--nfe', '2'];
    const small = ['--n', '2', '--reference', 'euler:6', '--sweeps', '1', '--json'];
    expect(await main([...args, ...small, '--sigma-max', '20'], c.io)).toBe(0);
    const record = JSON.parse(c.out.at(-1) ?? '{}');
    expect(record.sigmas[0]).toBe(20);
    expect(record.sigmas).toHaveLength(3);
    const bad = capture();
    expect(await main([...args, ...small, '--sigma-max', '1e6'], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toMatch(/--sigma-max: 1000000 is outside this model's sigma range/);
  });

  it('bad input gets named usage errors', async () => {
    const modelDir = join(dir, 'model');
    const base = ['schedule', 'learn', '--model', modelDir];
    const a = capture();
    expect(await main([...base, '--sampler', 'ddpm', '--nfe', '4'], a.io)).toBe(2);
    expect(a.err.join('\n')).toMatch(/--sampler.*ddpm cannot have a learned schedule/);
    const b = capture();
    expect(await main([...base, '--sampler', 'euler', '--nfe', '0'], b.io)).toBe(2);
    expect(b.err.join('\n')).toMatch(/--nfe/);
    const h = capture();
    expect(await main([...base, '--sampler', 'heun', '--nfe', '4'], h.io)).toBe(2);
    expect(h.err.join('\n')).toMatch(/--nfe: heun spends 2 \* steps - 1 evaluations/);
    const r = capture();
    expect(
      await main([...base, '--sampler', 'euler', '--nfe', '3', '--reference', 'dpmpp-2m:10'], r.io),
    ).toBe(2);
    expect(r.err.join('\n')).toMatch(/--reference: must be SAMPLER:STEPS/);
    // More sampler steps than the reference has: refused before any work (the DP has no path).
    const f = capture();
    expect(
      await main([...base, '--sampler', 'euler', '--nfe', '6', '--reference', 'heun:3'], f.io),
    ).toBe(2);
    expect(f.err.join('\n')).toMatch(
      /--nfe\/--reference: euler at 6 NFE takes 6 steps, more than the reference's 3/,
    );
    const big = capture();
    expect(await main([...base, '--sampler', 'euler', '--nfe', '101'], big.io)).toBe(2);
    expect(big.err.join('\n')).toMatch(/more than the reference's 100/);
    // Equal seeds would score the calibration batch as held-out.
    const s = capture();
    expect(
      await main(
        [...base, '--sampler', 'euler', '--nfe', '3', '--seed', '7', '--heldout-seed', '7'],
        s.io,
      ),
    ).toBe(2);
    expect(s.err.join('\n')).toMatch(/--heldout-seed: must differ from --seed \(both 7\)/);
  });

  it('--model VERSION downloads from the --server given (not the default)', async () => {
    const home = process.env.ANNEAL_HOME;
    process.env.ANNEAL_HOME = join(dir, 'home');
    try {
      const c = capture();
      const id = '00000000-0000-4000-8000-000000000001';
      const args = ['schedule', 'learn', '--model', id, '--sampler', 'euler', '--nfe', '3'];
      // Port 1 on loopback: nothing listens, so the download fails naming the server asked.
      const server = ['--server', 'http://127.0.0.1:1', '--token', 'x'];
      expect(await main([...args, ...server], c.io)).toBe(1);
      expect(c.err.join('\n')).toMatch(
        new RegExp(`--model: cannot download model version ${id} from http://127.0.0.1:1`),
      );
    } finally {
      if (home === undefined) delete process.env.ANNEAL_HOME;
      else process.env.ANNEAL_HOME = home;
    }
  });

  it('Ctrl-C during the reference runs stops learning: nothing written, exit 130', async () => {
    const modelDir = join(dir, 'model');
    const before = new Set(process.listeners('SIGINT'));
    const c = capture();
    // 10000 reference steps: far more than the few it takes before the interrupt lands.
    const run = main(
      [
        'schedule',
        'learn',
        '--model',
        modelDir,
        '--sampler',
        'euler',
        '--nfe',
        '4',
        '--n',
        '1',
        '--reference',
        'heun:10000',
      ],
      c.io,
    );
    // The command's own SIGINT handler, called directly once it is installed (emitting the
    // signal would reach the test runner's handlers too).
    let settled = false;
    void run.finally(() => {
      settled = true;
    });
    let handler: (() => void) | undefined;
    while (!handler && !settled) {
      await new Promise((r) => setImmediate(r));
      handler = process.listeners('SIGINT').find((l) => !before.has(l)) as (() => void) | undefined;
    }
    expect(handler, 'schedule learn installs a SIGINT handler while it learns').toBeDefined();
    handler?.();
    expect(await run).toBe(130);
    expect(c.err.join('\n')).toMatch(/cancelled before learning began/);
    expect(process.listeners('SIGINT').some((l) => !before.has(l))).toBe(false);
    expect(readdirSync(join(modelDir, 'schedules'))).not.toContain('euler-nfe4.json');
  });
});
