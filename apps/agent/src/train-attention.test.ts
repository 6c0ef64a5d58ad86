import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  });
});
