import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinContentHash } from '@anneal/datasets/hash';
import { modelConfigSchema } from '@anneal/engine/config';
import { afterAll, describe, expect, it } from 'vitest';
import { runAnneal } from '../testing/run-cli.ts';
import { modelDataset } from './model-dataset.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-model-dataset-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('modelDataset', () => {
  it('re-materializes a built-in with the options the model was trained on, not the defaults', async () => {
    const ref = {
      kind: 'builtin',
      name: 'shapes',
      options: { count: 300, heldOut: 60, seed: 7 },
    } as const;
    const out = join(home, 'run');
    const r = runAnneal(
      [
        'train',
        '--dataset-ref',
        JSON.stringify(ref),
        '--resolution',
        '8',
        '--preset',
        'tiny',
        '--batch',
        '4',
        '--steps',
        '1',
        '--out',
        out,
        '--json',
      ],
      home,
    );
    expect(r.status, r.stderr).toBe(0);
    const config = modelConfigSchema.parse(
      JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')),
    );
    const data = await modelDataset(config, out, home);
    expect(data.hash).toBe(builtinContentHash(ref));
    expect(data.hash).not.toBe(builtinContentHash({ kind: 'builtin', name: 'shapes' }));
    expect(data.trainCount).toBe(240);
  }, 60_000);
});
