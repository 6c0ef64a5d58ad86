import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attentionBytes, estimateSamplingMemory, parseModelConfig } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { runAnneal } from './testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-cli-home-'));
const anneal = (args: string[]) => runAnneal(args, home);
const small = ['--dataset', 'shapes', '--resolution', '8', '--preset', 'tiny', '--batch', '8'];

describe('anneal train --attention', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'anneal-cli-')), 'run');

  it('trains a linear-attention model, records it, samples it, and refuses to resume it as softmax', () => {
    const r = anneal([
      'train',
      ...small,
      '--steps',
      '2',
      '--attention',
      'linear',
      '--out',
      out,
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json?.attention).toEqual({ kind: 'linear' });
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).unet.linear_attention).toBe(
      true,
    );
    const s = anneal([
      'sample',
      '--model',
      out,
      '--n',
      '2',
      '--steps',
      '2',
      '--out',
      join(out, 's.png'),
      '--json',
    ]);
    expect(s.status, s.stderr).toBe(0);
    const resumed = anneal(['train', ...small, '--steps', '4', '--out', out, '--resume']);
    expect(resumed.status).toBe(1);
    expect(resumed.stderr).toMatch(
      /trained with linear attention; resume it with --attention linear/,
    );
  });

  it('reports softmax attention as fused when it fits, and refuses an unknown kind naming the flag', () => {
    const other = join(mkdtempSync(join(tmpdir(), 'anneal-cli-')), 'run');
    const r = anneal(['train', ...small, '--steps', '1', '--out', other, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json?.attention).toEqual({ kind: 'fused' });
    const bad = anneal([
      'train',
      ...small,
      '--steps',
      '1',
      '--attention',
      'chunked',
      '--out',
      other,
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--attention/);
    // --attention contradicting a --model-config is refused, not silently overridden.
    const cfg = join(other, 'config.json');
    const third = join(mkdtempSync(join(tmpdir(), 'anneal-cli-')), 'run');
    const contradicts = anneal([
      ...['train', ...small, '--steps', '1', '--model-config', cfg, '--attention', 'linear'],
      ...['--out', third],
    ]);
    expect(contradicts.status).toBe(1);
    expect(contradicts.stderr).toContain(
      `--attention linear: --model-config ${cfg} has softmax attention; ` +
        'drop --attention or pass --attention softmax',
    );
  });

  it('anneal sample sets MLX limit to the budget, slices attention when fused does not fit, stays under it', () => {
    const run = join(mkdtempSync(join(tmpdir(), 'anneal-cli-')), 'run');
    const t = anneal(['train', ...small, '--steps', '1', '--out', run, '--json']);
    expect(t.status, t.stderr).toBe(0);
    const { unet } = parseModelConfig(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')));
    const rest = estimateSamplingMemory(unet, { n: 2 });
    const fused = attentionBytes(unet, { batch: rest.batch }).total;
    const sample = (budget: number) => {
      const saved = process.env.ANNEAL_MEMORY_BUDGET;
      process.env.ANNEAL_MEMORY_BUDGET = String(budget);
      try {
        const png = join(run, 's.png');
        return anneal([
          'sample',
          '--model',
          run,
          '--n',
          '2',
          '--steps',
          '2',
          '--out',
          png,
          '--json',
        ]);
      } finally {
        if (saved === undefined) delete process.env.ANNEAL_MEMORY_BUDGET;
        else process.env.ANNEAL_MEMORY_BUDGET = saved;
      }
    };
    // One byte short of fused: sliced, under MLX's limit set to the budget, as train sets it
    // (without the limit MLX's scheduler runs slices ahead of their count; docs/attention.md).
    const budget = rest.total + fused - 1;
    const s = sample(budget);
    expect(s.status, s.stderr).toBe(0);
    expect(s.json?.attention).toMatchObject({ kind: 'sliced' });
    const memory = s.json?.memory as Record<string, number>;
    expect(memory.budget_bytes).toBe(budget);
    expect(memory.limit_bytes).toBe(budget);
    expect(memory.peak_bytes).toBeLessThanOrEqual(budget);
    // Nothing left for even a slice of one query: refused, naming the numbers.
    const refused = sample(rest.total - 1);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        'attention does not fit the memory budget: 2 image\\(s\\) at 8x8 leave 0 B for ' +
          'attention; fused needs [\\d.]+ KiB and even sliced attention with 1 query per ' +
          'slice needs [\\d.]+ KiB',
      ),
    );
  });
});
