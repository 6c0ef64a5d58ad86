import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinContentHash } from '../hash/builtin.ts';
import { generateShapes } from '../shapes/render.ts';
import { materialize } from './materialize.ts';
import { readShard } from './read.ts';

const made: string[] = [];
const home = () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-home-'));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const shapesRef = {
  kind: 'builtin',
  name: 'shapes',
  options: { count: 60, heldOut: 10, seed: 3, shapesPerImage: 2 },
} as const;

describe('materialize', () => {
  it('writes shards at <home>/datasets/<hash>/<resolution> holding exactly the generated data', async () => {
    const h = home();
    const res = await materialize(shapesRef, { resolution: 16, home: h });
    const hash = builtinContentHash(shapesRef);
    expect(res.cached).toBe(false);
    expect(res.dir).toBe(join(h, 'datasets', hash, '16'));
    expect(readdirSync(res.dir).sort()).toEqual([
      'heldout-00000.safetensors',
      'manifest.json',
      'train-00000.safetensors',
    ]);
    expect(readdirSync(join(h, 'datasets', hash))).toEqual(['16']); // no temp folder left
    expect(res.manifest).toMatchObject({
      hash,
      resolution: 16,
      height: 16,
      width: 16,
      channels: 3,
      classes: ['circle', 'square', 'triangle', 'cross', 'ring'],
      splits: { train: { count: 50 }, heldout: { count: 10 } },
    });

    const expected = generateShapes(16, shapesRef.options);
    const train = await readShard(join(res.dir, 'train-00000.safetensors'));
    expect([train.count, train.height, train.width, train.channels]).toEqual([50, 16, 16, 3]);
    expect(Buffer.from(train.images).equals(Buffer.from(expected.train.images))).toBe(true);
    expect(Array.from(train.labels)).toEqual(Array.from(expected.train.labels));
    expect(train.metadata).toMatchObject({
      dataset_hash: hash,
      resolution: '16',
      split: 'train',
      channels: '3',
    });
    const held = await readShard(join(res.dir, 'heldout-00000.safetensors'));
    expect(Buffer.from(held.images).equals(Buffer.from(expected.heldOut.images))).toBe(true);
  });

  it('does no work the second time for the same hash and resolution', async () => {
    const h = home();
    const first = await materialize(shapesRef, { resolution: 8, home: h });
    const file = join(first.dir, 'train-00000.safetensors');
    const before = statSync(file).mtimeMs;
    const second = await materialize(shapesRef, { resolution: 8, home: h });
    expect(second.cached).toBe(true);
    expect(second.manifest).toEqual(first.manifest);
    expect(statSync(file).mtimeMs).toBe(before);
    const other = await materialize(shapesRef, { resolution: 12, home: h });
    expect(other.cached).toBe(false);
  });

  it('rebuilds a cache whose manifest is damaged instead of failing on it', async () => {
    const h = home();
    const first = await materialize(shapesRef, { resolution: 8, home: h });
    const path = join(first.dir, 'manifest.json');
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 40)); // cut short
    const again = await materialize(shapesRef, { resolution: 8, home: h });
    expect(again.cached).toBe(false);
    expect(again.manifest).toEqual(first.manifest);
    writeFileSync(path, '{"format": "something else"}');
    expect((await materialize(shapesRef, { resolution: 8, home: h })).cached).toBe(false);
    expect((await materialize(shapesRef, { resolution: 8, home: h })).cached).toBe(true);
  });

  it('lets two concurrent runs race: one writes, the other keeps its result, no temp left', async () => {
    const h = home();
    const [a, b] = await Promise.all([
      materialize(shapesRef, { resolution: 10, home: h }),
      materialize(shapesRef, { resolution: 10, home: h }),
    ]);
    expect([a.cached, b.cached].sort()).toEqual([false, true]);
    expect(a.manifest).toEqual(b.manifest);
    expect(readdirSync(join(h, 'datasets', builtinContentHash(shapesRef)))).toEqual(['10']);
  });

  it('splits a large split into numbered shards that together hold every image', async () => {
    const h = home();
    const res = await materialize(shapesRef, {
      resolution: 8,
      home: h,
      maxShardBytes: 8 * 8 * 3 * 20,
    });
    const files = res.manifest.splits.train.shards.map((s) => s.file);
    expect(files).toEqual([
      'train-00000.safetensors',
      'train-00001.safetensors',
      'train-00002.safetensors',
    ]);
    expect(res.manifest.splits.train.shards.map((s) => s.count)).toEqual([20, 20, 10]);
    const parts = await Promise.all(files.map((f) => readShard(join(res.dir, f))));
    const joined = Buffer.concat(parts.map((p) => p.images));
    expect(joined.equals(Buffer.from(generateShapes(8, shapesRef.options).train.images))).toBe(
      true,
    );
    expect(parts[1]?.metadata).toMatchObject({ shard_index: '1', shard_count: '3' });
  });

  it('materializes MNIST at 32 as [N, 32, 32, 1]', async () => {
    const res = await materialize(
      { kind: 'builtin', name: 'mnist' },
      { resolution: 32, home: home() },
    );
    expect(res.manifest).toMatchObject({
      channels: 1,
      splits: { train: { count: 9000 }, heldout: { count: 1000 } },
    });
    const held = await readShard(join(res.dir, 'heldout-00000.safetensors'));
    expect([held.count, held.height, held.width, held.channels]).toEqual([1000, 32, 32, 1]);
  });

  it('refuses bad refs and resolutions, naming them', async () => {
    await expect(
      materialize({ kind: 'builtin', name: 'mnist' }, { resolution: 64, home: home() }),
    ).rejects.toThrow(/MNIST resolution 64/);
    await expect(
      materialize({ kind: 'builtin', name: 'cifar' } as never, { resolution: 32, home: home() }),
    ).rejects.toThrow(/invalid dataset ref/);
    await expect(
      materialize(
        { kind: 'version', id: 'v', hash: 'f'.repeat(64) },
        { resolution: 32, home: home() },
      ),
    ).rejects.toThrow(/dataset version f{64} is not in the local store/);
  });
});
