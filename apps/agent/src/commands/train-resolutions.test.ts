import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { runAnneal, runAnnealHere } from '../testing/run-cli.ts';
import { CHECKPOINT_FILES } from './train.ts';

// Issue 16 §2: `anneal train --resolutions` trains one model low to high in one run.
const home = mkdtempSync(join(tmpdir(), 'anneal-train-resolutions-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const PROGRESSIVE = [
  ...['train', '--dataset', 'shapes', '--preset', 'tiny', '--batch', '8', '--seed', '4'],
  ...['--resolutions', '8,16', '--stage-steps', '4,6', '--steps', '10'],
  ...['--log-every', '2', '--checkpoint-every', '2', '--sample-every', '0', '--json'],
];

interface Row {
  step: number;
  loss: number;
  resolution: number;
  stage?: number;
  width?: number;
}
const rows = (dir: string): Row[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);

describe('anneal train --resolutions', () => {
  it('trains each resolution in turn, records them, and resumes a copied checkpoint exactly', () => {
    const straight = join(home, 'straight');
    // --events: the checkpoints at steps 2, 4, ... are also copied to snapshots/step-N.
    const r = runAnneal([...PROGRESSIVE, '--out', straight, '--events'], home);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/progressive resolution: 8px to step 4 \(now\), 16px to step 10/);
    expect(r.stderr).toMatch(/stage 2\/2: 16x16 from step 5/);
    expect(rows(straight).map((x) => [x.step, x.resolution, x.stage])).toEqual([
      [2, 8, 0],
      [4, 8, 0],
      [6, 16, 1],
      [8, 16, 1],
      [10, 16, 1],
    ]);
    const config = JSON.parse(readFileSync(join(straight, 'config.json'), 'utf8'));
    expect(config.resolutions).toEqual([8, 16]);
    expect(config.unet.sample_size).toBe(16);
    // The schedule shift is on by default, based at the lowest resolution.
    expect(config.schedule.shift_base).toBe(8);
    const training = JSON.parse(readFileSync(join(straight, 'training.json'), 'utf8'));
    expect([
      training.resolution,
      training.resolutions,
      training.stage_steps,
      training.schedule_shift,
    ]).toEqual([16, [8, 16], [4, 6], true]);

    // The checkpoint at the stage boundary (step 4), resumed in another folder with the same
    // flags, ends where the uninterrupted run did, bit for bit (same ops, same inputs).
    const resumed = join(home, 'resumed');
    mkdirSync(resumed);
    for (const f of CHECKPOINT_FILES)
      copyFileSync(join(straight, 'snapshots', 'step-4', f), join(resumed, f));
    const again = runAnneal([...PROGRESSIVE, '--out', resumed, '--resume'], home);
    expect(again.status, again.stderr).toBe(0);
    expect(rows(resumed).map((x) => [x.step, x.loss, x.resolution])).toEqual(
      rows(straight)
        .slice(2)
        .map((x) => [x.step, x.loss, x.resolution]),
    );
    expect(readFileSync(join(resumed, 'model.safetensors'))).toEqual(
      readFileSync(join(straight, 'model.safetensors')),
    );
    // Other stage steps are another run: refused, naming both.
    const other = runAnneal(
      [...PROGRESSIVE.map((a) => (a === '4,6' ? '5,5' : a)), '--out', resumed, '--resume'],
      home,
    );
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/stages 4:0;10:1; this run has .* stages 5:0;10:1/);
  }, 120_000);

  it('a single-resolution run logs its resolution on every row and no stage', () => {
    const out = join(home, 'single');
    const r = runAnneal(
      [
        ...['train', '--dataset', 'shapes', '--resolution', '8', '--preset', 'tiny'],
        ...['--batch', '8', '--steps', '2', '--log-every', '1', '--out', out, '--json'],
      ],
      home,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(rows(out).map((x) => [x.resolution, x.stage])).toEqual([
      [8, undefined],
      [8, undefined],
    ]);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect([config.resolutions, config.schedule.shift_base]).toEqual([undefined, undefined]);
  }, 60_000);

  it('--multi-resolution trains a folder of mixed aspects on its buckets, one shape per batch', async () => {
    const dir = join(home, 'mixed');
    for (const [name, w, h] of [
      ['wide', 48, 24],
      ['tall', 20, 40],
      ['square', 30, 30],
    ] as const) {
      mkdirSync(join(dir, name), { recursive: true });
      for (let i = 0; i < 6; i++) {
        const px = Buffer.alloc(w * h * 3, 40 * i);
        const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
        writeFileSync(
          join(dir, name, `${i}.${i % 2 ? 'png' : 'jpg'}`),
          await (i % 2 ? img.png() : img.jpeg()).toBuffer(),
        );
      }
    }
    const out = join(home, 'multi');
    const r = runAnneal(
      [
        ...['train', '--dataset', `folder:${dir}`, '--multi-resolution', '--resolution', '16'],
        ...['--preset', 'tiny', '--batch', '2', '--steps', '12', '--log-every', '1'],
        ...['--sample-every', '0', '--out', out],
      ],
      home,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/buckets: 22x12 \(\d+\), 16x16 \(\d+\), 12x22 \(\d+\)/);
    const shapes = new Set(rows(out).map((x) => `${x.resolution}x${x.width ?? x.resolution}`));
    for (const s of shapes) expect(['22x12', '16x16', '12x22']).toContain(s);
    // 12 draws over three buckets of 5 training images each: two shapes at least, unless the
    // draw ignored all but one bucket (probability 3 (1/3)^12 < 1e-5).
    expect(shapes.size).toBeGreaterThan(1);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.schedule.shift_base).toBe(16);
  }, 120_000);

  it.each([
    [['--resolutions', '16,8', '--steps', '4'], /--resolutions: must increase, low to high/],
    [
      ['--resolutions', '8,16', '--resolution', '32', '--steps', '4'],
      /--resolutions: the last \(16\) must be the model's resolution \(32\)/,
    ],
    [
      ['--resolutions', '8,16', '--stage-steps', '2,3', '--steps', '4'],
      /--stage-steps: 2,3 sum to 5, but steps \(the run's total\) is 4/,
    ],
    [['--resolution', '8', '--stage-steps', '2,2', '--steps', '4'], /--stage-steps: only with/],
    [['--resolutions', '8,x', '--steps', '4'], /--resolutions/],
    [
      ['--resolutions', '8,16', '--multi-resolution', '--steps', '4'],
      /--multi-resolution: give either/,
    ],
    [['--resolution', '16', '--multi-resolution', '--steps', '4'], /the built-in shapes is square/],
  ])('refuses %j, naming the problem', async (flags, message) => {
    const r = await runAnnealHere(
      [
        ...['train', '--dataset', 'shapes', '--preset', 'tiny'],
        ...flags,
        ...['--out', join(home, 'refused')],
      ],
      home,
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
