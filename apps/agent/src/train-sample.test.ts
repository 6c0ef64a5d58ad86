import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAnneal } from './testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-cli-home-'));

const anneal = (args: string[]) => runAnneal(args, home);

const small = [
  '--dataset',
  'shapes',
  '--resolution',
  '8',
  '--preset',
  'tiny',
  '--batch',
  '8',
  '--log-every',
  '2',
];

describe('anneal train and sample', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'anneal-cli-')), 'run');

  it('trains, writes a checkpoint and metrics, and refuses to overwrite without --resume', () => {
    const r = anneal([
      'train',
      ...small,
      '--steps',
      '6',
      '--checkpoint-every',
      '4',
      '--out',
      out,
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ steps: 6, out });
    expect(Number.isFinite(r.json?.final_loss)).toBe(true);
    for (const f of [
      'model.safetensors',
      'config.json',
      'trainer-state.safetensors',
      'metrics.jsonl',
    ]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.step)).toEqual([2, 4, 6]);
    for (const key of ['loss', 'lr', 'images_per_s', 'peak_memory_bytes'])
      expect(metrics[0]).toHaveProperty(key);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      preset: 'tiny',
      parameterization: 'v',
      dataset: { name: 'shapes', num_classes: 5 },
    });
    const again = anneal(['train', ...small, '--steps', '6', '--out', out]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds a training run; pass --resume/);
  });

  it('resumes to more steps without duplicating metrics', () => {
    const r = anneal(['train', ...small, '--steps', '10', '--out', out, '--resume', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ steps: 10 });
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual([2, 4, 6, 8, 10]);
    // One stage line per sitting, each naming its steps, machine and arguments.
    const stages = readFileSync(join(out, 'stages.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(stages.map((s) => [s.from_step, s.to_step, s.total_steps])).toEqual([
      [0, 6, 6],
      [6, 10, 10],
    ]);
    expect(stages[1].argv).toContain('--resume');
    expect(stages[1].machine).toMatchObject({
      backend: expect.stringMatching(/^(cpu|metal|cuda)$/),
      cores: expect.any(Number),
    });
    expect(stages[1].wall_s).toBeGreaterThan(0);
  });

  it('samples a grid; the same seed gives byte-identical output', () => {
    const a = join(out, 'a.png');
    const b = join(out, 'b.png');
    const ra = anneal([
      'sample',
      '--model',
      out,
      '--sampler',
      'dpmpp-2m',
      '--steps',
      '4',
      '--n',
      '6',
      '--seed',
      '3',
      '--out',
      a,
      '--json',
    ]);
    expect(ra.status, ra.stderr).toBe(0);
    expect(ra.json).toMatchObject({ nfe: 4, steps: 4, n: 6 });
    anneal([
      'sample',
      '--model',
      out,
      '--sampler',
      'dpmpp-2m',
      '--steps',
      '4',
      '--n',
      '6',
      '--seed',
      '3',
      '--out',
      b,
    ]);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const guided = anneal([
      'sample',
      '--model',
      out,
      '--sampler',
      'heun',
      '--steps',
      '3',
      '--n',
      '2',
      '--class',
      '1',
      '--guidance',
      '2',
      '--out',
      b,
      '--json',
    ]);
    expect(guided.json).toMatchObject({ nfe: 2 * 5 });
  });

  it('names the flag that is wrong', () => {
    expect(anneal(['train', ...small, '--out', out]).stderr).toMatch(/--steps: is required/);
    expect(anneal(['train', ...small, '--steps', 'ten', '--out', out]).stderr).toMatch(/--steps:/);
    expect(
      anneal(['sample', '--model', out, '--sampler', 'plms', '--out', 'x.png']).stderr,
    ).toMatch(/--sampler:/);
    expect(anneal(['sample', '--model', out, '--out', 'x.jpg']).stderr).toMatch(
      /--out: must end in .png/,
    );
    const missing = anneal(['sample', '--model', join(out, 'nope'), '--out', join(out, 'x.png')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no config.json in .*nope/);
    expect(
      anneal(['train', ...small, '--steps', '2', '--dataset', 'cifar', '--out', `${out}-fresh`])
        .stderr,
    ).toMatch(/--dataset: .*cifar/);
  });
});
