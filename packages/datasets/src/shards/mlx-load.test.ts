import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';
import { afterAll, describe, expect, it } from 'vitest';
import { materialize } from './materialize.ts';
import { readShard } from './read.ts';

// MLX Python's mx.load goes through the same mlx::core::load_safetensors the engine
// calls, so it is the most direct check of the shard contract. Optional: the package
// does not depend on MLX; the SDK folder exists after a full `npm install`.
const env = { ...process.env, PYTHONPATH: join(repoRoot, 'native', 'mlx-sdk') };
const hasMlx =
  spawnSync('python3', ['-c', 'import mlx.core'], { env, stdio: 'ignore' }).status === 0;

const home = mkdtempSync(join(tmpdir(), 'anneal-mlx-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe.skipIf(!hasMlx)('shards load in MLX', () => {
  it('mx.load reads labels int32 [N] and images uint8 [N,H,W,C] with the metadata', async () => {
    const ref = { kind: 'builtin', name: 'shapes', options: { count: 30, heldOut: 5 } } as const;
    const res = await materialize(ref, { resolution: 9, home });
    const script = `
import json, sys, mlx.core as mx
out = {}
for name in sys.argv[1:]:
    arrays, meta = mx.load(name, return_metadata=True)
    out[name] = {k: {'dtype': str(v.dtype), 'shape': list(v.shape), 'sum': v.astype(mx.int64).sum().item(),
                     'first': v.reshape(-1)[:5].tolist()} for k, v in arrays.items()}
    out[name]['meta'] = meta
print(json.dumps(out))
`;
    const files = ['train-00000.safetensors', 'heldout-00000.safetensors'].map((f) =>
      join(res.dir, f),
    );
    const run = spawnSync('python3', ['-c', script, ...files], { env, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const got = JSON.parse(run.stdout);
    for (const file of files) {
      const ours = await readShard(file);
      const theirs = got[file];
      expect(theirs.images).toMatchObject({
        dtype: 'mlx.core.uint8',
        shape: [ours.count, 9, 9, 3],
      });
      expect(theirs.labels).toMatchObject({ dtype: 'mlx.core.int32', shape: [ours.count] });
      expect(theirs.images.sum).toBe(ours.images.reduce((a, b) => a + b, 0));
      expect(theirs.images.first).toEqual(Array.from(ours.images.subarray(0, 5)));
      expect(theirs.labels.first).toEqual(Array.from(ours.labels.subarray(0, 5)));
      expect(theirs.meta).toEqual(ours.metadata);
    }
  });
});
