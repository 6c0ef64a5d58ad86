import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { importFolder } from '../folder/import.ts';
import { assignBuckets, bucketShapes, MAX_BUCKET_ASPECT, materializeBuckets } from './buckets.ts';
import { readShard } from './read.ts';

const made: string[] = [];
const tmp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe('bucketShapes', () => {
  it('keeps sides on the factor, pixel counts near target^2 and aspects within the limit', () => {
    for (const [target, factor] of [
      [32, 4],
      [16, 2],
      [1024, 64],
    ] as const) {
      const shapes = bucketShapes(target, factor);
      expect(shapes).toContainEqual({ height: target, width: target });
      for (const s of shapes) {
        expect(s.height % factor).toBe(0);
        expect(s.width % factor).toBe(0);
        expect(Math.abs(s.height * s.width - target * target)).toBeLessThanOrEqual(
          (target * target) / 4,
        );
        expect(s.width / s.height).toBeLessThanOrEqual(MAX_BUCKET_ASPECT);
        expect(s.height / s.width).toBeLessThanOrEqual(MAX_BUCKET_ASPECT);
      }
      const aspects = shapes.map((s) => s.width / s.height);
      expect(aspects).toEqual([...aspects].sort((a, b) => a - b));
    }
    // SDXL's landscape bucket at 1024^2 with multiples of 64.
    expect(bucketShapes(1024, 64)).toContainEqual({ height: 768, width: 1344 });
  });

  it('refuses a target that is not a multiple of the factor', () => {
    expect(() => bucketShapes(30, 4)).toThrow(/target 30 is not a multiple of the factor 4/);
  });
});

describe('assignBuckets', () => {
  it('merges a bucket with fewer training images than minCount into the nearest one', () => {
    const shapes = [
      { height: 8, width: 16 },
      { height: 12, width: 12 },
      { height: 16, width: 8 },
    ];
    // Three wide, three square, one tall.
    const aspects = [2, 2, 1.9, 1, 1, 1.1, 0.5];
    const r = assignBuckets(
      aspects,
      aspects.map(() => true),
      shapes,
      2,
    );
    expect(r.shapes).toEqual(shapes.slice(0, 2));
    // The tall image joins the square bucket, its nearest remaining aspect.
    expect(r.bucketOf).toEqual([0, 0, 0, 1, 1, 1, 1]);
  });
});

/** A w x h image: left half red, right half blue, a green row at the top. */
async function picture(w: number, h: number, format: 'png' | 'jpeg'): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      px.set(y === 0 ? [0, 255, 0] : x < w / 2 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

describe('materializeBuckets', () => {
  it('puts a folder of mixed sizes and formats into aspect buckets, covered and center-cropped', async () => {
    const dir = tmp('anneal-mixed-');
    const sizes = [
      ['wide', 64, 32, 'png'],
      ['tall', 30, 60, 'jpeg'],
      ['square', 40, 40, 'jpeg'],
      ['four-three', 60, 45, 'png'],
    ] as const;
    for (const [name, w, h, format] of sizes) {
      mkdirSync(join(dir, name));
      for (let i = 0; i < 4; i++)
        writeFileSync(
          join(dir, name, `${i}.${format === 'png' ? 'png' : 'jpg'}`),
          await picture(w + i * 2, h + i, format),
        );
    }
    const home = tmp('anneal-home-');
    const report = await importFolder(dir, { home, heldOutFraction: 0.25, seed: 1 });
    expect(report.skipped).toEqual([]);
    const buckets = await materializeBuckets(report.ref, {
      target: 16,
      factor: 2,
      minCount: 2,
      home,
    });
    const shapes = buckets.map((b) => `${b.height}x${b.width}`);
    // Tall 1:2, 4:3 landscape, square, 2:1 landscape: each near 256 pixels, sides even.
    expect(shapes).toEqual(['22x12', '16x16', '14x18', '12x22']);
    const classOf = (name: string) => report.manifest.classes.indexOf(name);
    const expectLabel: Record<string, number> = {
      '22x12': classOf('tall'),
      '16x16': classOf('square'),
      '14x18': classOf('four-three'),
      '12x22': classOf('wide'),
    };
    let total = 0;
    for (const b of buckets) {
      expect([b.manifest.height, b.manifest.width, b.manifest.channels]).toEqual([
        b.height,
        b.width,
        3,
      ]);
      const train = await readShard(join(b.dir, 'train-00000.safetensors'));
      const held = await readShard(join(b.dir, 'heldout-00000.safetensors'));
      expect([train.height, train.width]).toEqual([b.height, b.width]);
      total += train.count + held.count;
      expect(train.count).toBeGreaterThanOrEqual(2);
      for (const l of train.labels) expect(l).toBe(expectLabel[`${b.height}x${b.width}`]);
      // Covered, not squashed or padded: the left edge red, the right edge blue, the middle
      // rows never black, for every image.
      const at = (i: number, x: number, y: number) => {
        const o = ((i * train.height + y) * train.width + x) * 3;
        return Array.from(train.images.subarray(o, o + 3));
      };
      const mid = Math.floor(train.height / 2);
      for (let i = 0; i < train.count; i++) {
        const [r0, , b0] = at(i, 0, mid) as number[];
        const [r1, , b1] = at(i, train.width - 1, mid) as number[];
        expect(r0).toBeGreaterThan(200);
        expect(b0).toBeLessThan(60);
        expect(b1).toBeGreaterThan(200);
        expect(r1).toBeLessThan(60);
      }
    }
    expect(total).toBe(16);
    // Cached: a second call reads the same folders and writes nothing.
    const before = statSync(join(buckets[0]?.dir as string, 'manifest.json')).mtimeMs;
    const again = await materializeBuckets(report.ref, {
      target: 16,
      factor: 2,
      minCount: 2,
      home,
    });
    expect(again.map((b) => b.dir)).toEqual(buckets.map((b) => b.dir));
    expect(statSync(join(again[0]?.dir as string, 'manifest.json')).mtimeMs).toBe(before);
  });

  it('refuses a built-in dataset, which is square', async () => {
    await expect(
      materializeBuckets({ kind: 'builtin', name: 'shapes', options: {} } as never, {
        target: 16,
        factor: 2,
        minCount: 2,
        home: tmp('anneal-home-'),
      }),
    ).rejects.toThrow(/the built-in shapes is square/);
  });
});
