import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAnneal } from '../testing/run-cli.ts';
import { readSampleIndex, SAMPLE_GRID_DEFAULTS } from './train-samples.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-train-samples-home-'));
const root = mkdtempSync(join(tmpdir(), 'anneal-train-samples-'));
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

const tiny = ['--dataset', 'shapes', '--resolution', '8', '--preset', 'tiny', '--batch', '4'];
const train = (out: string, steps: number, extra: string[] = []) =>
  runAnneal(
    [
      'train',
      ...tiny,
      '--steps',
      String(steps),
      '--checkpoint-every',
      '4',
      '--out',
      out,
      '--json',
      '--events',
      ...extra,
    ],
    home,
  );
const events = (stdout: string, kind: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event?: string; step?: number; file?: string; index?: string })
    .filter((e) => e.event === kind);
const grid = (out: string, step: number) => readFileSync(join(out, 'samples', `step-${step}.png`));

describe('readSampleIndex', () => {
  it('holds the index to the protocol schema: a sampler the engine lacks is named, and the index treated as none', () => {
    const out = mkdtempSync(join(root, 'index-'));
    mkdirSync(join(out, 'samples'));
    const index = {
      n: 4,
      sampler: 'dpmpp-2m',
      steps: 20,
      seed: 1,
      columns: 2,
      pad: 2,
      size: 8,
      classes: null,
      frames: [{ step: 2, file: 'step-2.png', wall_s: 1 }],
    };
    const path = join(out, 'samples', 'index.json');
    writeFileSync(path, JSON.stringify(index));
    const warnings: string[] = [];
    expect(readSampleIndex(out, (l) => warnings.push(l))).toEqual(index);
    writeFileSync(path, JSON.stringify({ ...index, sampler: 'warp-drive' }));
    expect(readSampleIndex(out, (l) => warnings.push(l))).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      new RegExp(`^warning: ignoring the sample grid index ${path} \\(sampler: `),
    );
  });
});

describe('anneal train --sample-every', () => {
  const a = join(root, 'a');
  const b = join(root, 'b');

  it('writes a grid of the EMA weights every N steps, with an index and an event per grid', () => {
    const r = train(a, 4, ['--sample-every', '2']);
    expect(r.status, r.stderr).toBe(0);
    const samples = events(r.stdout, 'samples');
    expect(samples.map((e) => e.step)).toEqual([2, 4]);
    for (const e of samples) {
      expect(e.file).toBe(join(a, 'samples', `step-${e.step}.png`));
      expect(e.index).toBe(join(a, 'samples', 'index.json'));
    }
    const index = readSampleIndex(a);
    expect(index?.frames.map((f) => [f.step, f.file])).toEqual([
      [2, 'step-2.png'],
      [4, 'step-4.png'],
    ]);
    expect(index).toMatchObject({ n: SAMPLE_GRID_DEFAULTS.n, size: 8, columns: 4, pad: 2 });
    // Shapes are class-conditional: image i is shape i mod 5.
    expect(index?.classes?.slice(0, 6)).toEqual([
      'circle',
      'square',
      'triangle',
      'cross',
      'ring',
      'circle',
    ]);
    // A PNG of 4 x 4 tiles of 8 px with 2 px gutters: 4*8 + 5*2 = 42 px square.
    const png = grid(a, 2);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(42);
    expect(png.readUInt32BE(20)).toBe(42);
    // The weights moved between the frames, the noise did not: the grids differ.
    expect(grid(a, 4).equals(png)).toBe(false);
  });

  it('samples each tile of its class, as `anneal sample` does from the saved weights', () => {
    const out = join(root, 'conditional');
    const r = train(out, 4, ['--sample-every', '4']);
    expect(r.status, r.stderr).toBe(0);
    const index = readSampleIndex(out);
    // Tile i is class i mod K (shapes has K = 5 classes).
    const classes = index?.classes ?? [];
    expect(new Set(classes.slice(0, 5)).size).toBe(5);
    expect(classes).toEqual(Array.from({ length: 16 }, (_, i) => classes[i % 5]));
    // At the last step the grid's EMA weights are the checkpoint's: `anneal sample` with the
    // index's seed, sampler and layout (classes cycling, no guidance) draws the same grid.
    const png = join(root, 'conditional.png');
    const s = runAnneal(
      [
        ...['sample', '--model', out, '--out', png, '--n', '16', '--columns', '4'],
        ...['--sampler', 'dpmpp-2m', '--steps', '20', '--seed', String(index?.seed)],
      ],
      home,
    );
    expect(s.status, s.stderr).toBe(0);
    expect(grid(out, 4).equals(readFileSync(png))).toBe(true);
  });

  it('draws every frame from the same noise: a second run with the same seed gives the same grid', () => {
    // The same total steps: the learning rate schedule depends on them.
    const r = train(b, 4, ['--sample-every', '2']);
    expect(r.status, r.stderr).toBe(0);
    expect(grid(b, 2).equals(grid(a, 2))).toBe(true);
  });

  it('resumes with its original arguments: grids at checkpoints by default, frames kept', () => {
    // The folder was trained with --sample-every 2; this sitting leaves the flag out.
    const r = train(a, 6, ['--resume']);
    expect(r.status, r.stderr).toBe(0);
    // Default: at every checkpoint (none falls in 5..6 with --checkpoint-every 4) and the end.
    expect(events(r.stdout, 'samples').map((e) => e.step)).toEqual([6]);
    expect(readSampleIndex(a)?.frames.map((f) => f.step)).toEqual([2, 4, 6]);
  });

  it('resumes a folder trained before sample grids (no samples/)', () => {
    rmSync(join(b, 'samples'), { recursive: true });
    const r = train(b, 6, ['--resume']);
    expect(r.status, r.stderr).toBe(0);
    expect(readSampleIndex(b)?.frames.map((f) => f.step)).toEqual([6]);
  });

  it('drops frames past the step a resume starts from', () => {
    // Folder a is at step 6 with frames 2, 4, 6; its trainer state is at 6, so resuming to
    // 8 keeps them all and adds 8. A stale frame past the state (copied in by hand) goes.
    const index = join(a, 'samples', 'index.json');
    const stale = JSON.parse(readFileSync(index, 'utf8'));
    stale.frames.push({ step: 7, file: 'step-7.png', wall_s: 0 });
    writeFileSync(index, JSON.stringify(stale));
    const r = train(a, 8, ['--resume', '--sample-every', '2']);
    expect(r.status, r.stderr).toBe(0);
    expect(readSampleIndex(a)?.frames.map((f) => f.step)).toEqual([2, 4, 6, 8]);
  });

  it('resumes past an index cut short mid-write, with a warning naming it', () => {
    // Folder b is at step 6. A half-written index must not strand the folder, even when
    // this sitting draws no grids.
    const index = join(b, 'samples', 'index.json');
    writeFileSync(index, readFileSync(index, 'utf8').slice(0, 40));
    const r = train(b, 8, ['--resume', '--sample-every', '0']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: ignoring the unreadable sample grid index ${index}`);
    expect(readSampleIndex(b)).toBeNull();
  });

  it('a failing grid warns and training goes on, checkpoints included', () => {
    // A file where the samples folder goes: every grid fails writing its PNG.
    const e = join(root, 'e');
    mkdirSync(e);
    writeFileSync(join(e, 'samples'), '');
    const r = train(e, 4, ['--sample-every', '2']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: sample grid at step 2 failed: .*; training goes on/);
    const warnings = events(r.stdout, 'warning') as unknown as { message: string }[];
    expect(warnings.map((w) => w.message.slice(0, 28))).toEqual([
      'sample grid at step 2 failed',
      'sample grid at step 4 failed',
    ]);
    expect(events(r.stdout, 'checkpoint').map((c) => c.step)).toEqual([4]);
    expect(existsSync(join(e, 'trainer-state.safetensors'))).toBe(true);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) as string)).toMatchObject({ steps: 4 });
  });

  it('leaves training unchanged: the same losses and trainer state with a grid every step as with none', () => {
    // Sampling the EMA weights between chunks must not touch the weights, the optimizer,
    // the data cursor or the noise keys of the steps that follow.
    const withGrids = join(root, 'with-grids');
    const without = join(root, 'without-grids');
    const a = train(withGrids, 4, ['--sample-every', '1', '--log-every', '1']);
    const b = train(without, 4, ['--sample-every', '0', '--log-every', '1']);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(events(a.stdout, 'samples').map((e) => e.step)).toEqual([1, 2, 3, 4]);
    const losses = (out: string) =>
      readFileSync(join(out, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { step: number; loss: number })
        .map((m) => [m.step, m.loss]);
    expect(losses(withGrids)).toHaveLength(4);
    // Exact: the same machine runs the same kernels in the same order either way.
    expect(losses(withGrids)).toEqual(losses(without));
    const state = (out: string) => readFileSync(join(out, 'trainer-state.safetensors'));
    expect(state(withGrids).equals(state(without))).toBe(true);
  });

  it('--sample-every 0 writes no grids', () => {
    const c = join(root, 'c');
    const r = train(c, 2, ['--sample-every', '0']);
    expect(r.status, r.stderr).toBe(0);
    expect(events(r.stdout, 'samples')).toEqual([]);
    expect(existsSync(join(c, 'samples'))).toBe(false);
  });
});
