import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { md5Hex } from '../hash/digest.ts';
import { materialize } from '../shards/materialize.ts';
import { readShard } from '../shards/read.ts';
import { importFolder } from './import.ts';

const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];

/** 40x20: a red band (10 px), green middle (20 px), blue band (10 px), so each fit policy leaves a distinct trace. */
function bands(): Buffer {
  const w = 40;
  const h = 20;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = x < 10 ? RED : x < 30 ? GREEN : BLUE;
      px.set(c, (y * w + x) * 3);
    }
  }
  return px;
}

const raw = { raw: { width: 40, height: 20, channels: 3 as const } };
const made: string[] = [];
const tmp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

let png: Buffer;
let jpeg: Buffer;
let webp: Buffer;

beforeAll(async () => {
  png = await sharp(bands(), raw).png().toBuffer();
  jpeg = await sharp(bands(), raw).jpeg({ quality: 95 }).toBuffer();
  webp = await sharp(bands(), raw).webp({ lossless: true }).toBuffer();
});

/** RGB of pixel (x, y) in image i of a shard. */
function pixel(
  shard: { images: Uint8Array; width: number; height: number },
  i: number,
  x: number,
  y: number,
) {
  const o = ((i * shard.height + y) * shard.width + x) * 3;
  return Array.from(shard.images.subarray(o, o + 3));
}

const near = (got: number[], want: number[], tol = 40) =>
  got.every((v, k) => Math.abs(v - (want[k] as number)) <= tol);

describe('importFolder', () => {
  it('imports PNG, JPEG and WebP, and each fit policy gives the right square', async () => {
    const dir = tmp('anneal-imgs-');
    writeFileSync(join(dir, 'a.png'), png);
    writeFileSync(join(dir, 'b.jpg'), jpeg);
    writeFileSync(join(dir, 'c.webp'), webp);
    writeFileSync(join(dir, 'README.txt'), 'not an image');
    const home = tmp('anneal-home-');
    for (const fit of ['center-crop', 'pad', 'stretch'] as const) {
      const report = await importFolder(dir, { home, fit, heldOutFraction: 0 });
      expect(report.skipped).toEqual([]);
      expect(report.ignored).toEqual(['README.txt']);
      expect(report.manifest.files.map((f) => f.relpath)).toEqual(['a.png', 'b.jpg', 'c.webp']);
      expect(report.manifest.files[0]).toMatchObject({ md5: md5Hex(png), size: png.byteLength });
      expect(report.manifest.classes).toEqual([]);
      const res = await materialize(report.ref, { resolution: 8, home });
      const shard = await readShard(join(res.dir, 'train-00000.safetensors'));
      expect([shard.count, shard.height, shard.width, shard.channels]).toEqual([3, 8, 8, 3]);
      expect(Array.from(shard.labels)).toEqual([-1, -1, -1]);
      for (let i = 0; i < 3; i++) {
        if (fit === 'center-crop') {
          // The centre 20x20 is all green.
          for (const [x, y] of [
            [0, 0],
            [7, 7],
            [0, 7],
            [4, 4],
          ] as const)
            expect(near(pixel(shard, i, x, y), GREEN)).toBe(true);
        } else if (fit === 'pad') {
          // 40x20 -> 8x4 in the middle, black bars above and below.
          expect(pixel(shard, i, 4, 0)).toEqual([0, 0, 0]);
          expect(pixel(shard, i, 4, 7)).toEqual([0, 0, 0]);
          expect(near(pixel(shard, i, 0, 3), RED)).toBe(true);
          expect(near(pixel(shard, i, 4, 3), GREEN)).toBe(true);
          expect(near(pixel(shard, i, 7, 4), BLUE)).toBe(true);
        } else {
          expect(near(pixel(shard, i, 0, 0), RED)).toBe(true);
          expect(near(pixel(shard, i, 4, 7), GREEN)).toBe(true);
          expect(near(pixel(shard, i, 7, 7), BLUE)).toBe(true);
        }
      }
    }
  });

  it('takes labels from first-level subfolders and holds out a seeded split', async () => {
    const dir = tmp('anneal-labelled-');
    for (const cls of ['dogs', 'cats']) {
      mkdirSync(join(dir, cls, 'deep'), { recursive: true });
      for (let i = 0; i < 5; i++) writeFileSync(join(dir, cls, `${i}.png`), png);
      writeFileSync(join(dir, cls, 'deep', 'x.webp'), webp);
    }
    const home = tmp('anneal-home-');
    const a = await importFolder(dir, { home, heldOutFraction: 0.25, seed: 7 });
    expect(a.manifest.classes).toEqual(['cats', 'dogs']);
    expect(a.manifest.files.find((f) => f.relpath === 'dogs/deep/x.webp')?.label).toBe(1);
    expect(a.manifest.heldOut).toHaveLength(3);
    const b = await importFolder(dir, { home, heldOutFraction: 0.25, seed: 7 });
    expect(b.manifest.heldOut).toEqual(a.manifest.heldOut);
    expect(b.ref.hash).toBe(a.ref.hash);
    const c = await importFolder(dir, { home, heldOutFraction: 0.25, seed: 8 });
    expect(c.ref.hash).not.toBe(a.ref.hash);
    // DVC's .dir object is stored beside the version.
    expect(readFileSync(join(home, 'datasets', a.ref.hash, 'dvc.dir'), 'utf8')).toBe(a.dvc.json);
    const res = await materialize(a.ref, { resolution: 4, home });
    expect(res.manifest.classes).toEqual(['cats', 'dogs']);
    const held = await readShard(join(res.dir, 'heldout-00000.safetensors'));
    expect(held.count).toBe(3);
  });

  it('refuses a folder that mixes top-level and subfolder images, listing the top-level files', async () => {
    const dir = tmp('anneal-mixed-');
    mkdirSync(join(dir, 'cats'));
    mkdirSync(join(dir, 'dogs'));
    writeFileSync(join(dir, 'top.png'), png);
    writeFileSync(join(dir, 'also-top.webp'), webp);
    writeFileSync(join(dir, 'cats', 'c.png'), png);
    writeFileSync(join(dir, 'cats', 'c2.png'), png);
    writeFileSync(join(dir, 'dogs', 'd.jpg'), jpeg);
    const home = tmp('anneal-home-');
    const err = (await importFolder(dir, { home }).catch((e: Error) => e)) as Error;
    expect(err.message).toBe(
      'folder mixes labelled and unlabelled images: 2 at the top level: "also-top.webp", "top.png"; ' +
        '3 in class subfolders: cats/ (2), dogs/ (1); put every image in a subfolder (labels) or none',
    );
    expect(existsSync(join(home, 'datasets'))).toBe(false);
  });

  describe('bad files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = tmp('anneal-bad-');
      const inside = join(dir, 'data');
      mkdirSync(inside);
      writeFileSync(join(inside, 'good.png'), png);
      writeFileSync(join(inside, 'truncated.png'), png.subarray(0, Math.floor(png.byteLength / 2)));
      writeFileSync(join(inside, 'notes.png'), 'this is text, not a PNG\n');
      writeFileSync(join(dir, 'secret.png'), png); // outside `data`
      symlinkSync(join(dir, 'secret.png'), join(inside, 'escape.png'));
      symlinkSync(join(inside, 'good.png'), join(inside, 'alias.png'));
      symlinkSync(dir, join(inside, 'up')); // a directory link back out of the folder
      writeFileSync(join(inside, 'back\\slash.png'), png); // legal on POSIX, not portable
    });

    it('skips corrupt, truncated and non-image files by name, and refuses symlinks out of the folder', async () => {
      const home = tmp('anneal-home-');
      const report = await importFolder(join(dir, 'data'), { home });
      expect(report.manifest.files.map((f) => f.relpath)).toEqual(['alias.png', 'good.png']);
      const skipped = Object.fromEntries(report.skipped.map((s) => [s.relpath, s.reason]));
      expect(Object.keys(skipped).sort()).toEqual([
        'back\\slash.png',
        'escape.png',
        'notes.png',
        'truncated.png',
        'up',
      ]);
      expect(skipped['escape.png']).toMatch(/outside the folder/);
      expect(skipped.up).toMatch(/outside the folder/);
      expect(skipped['back\\slash.png']).toMatch(/portable/);
      expect(skipped['notes.png']).toBe(
        'not a PNG, JPEG or WebP image: it is text (starting "this is text, not a PNG")',
      );
      expect(skipped['truncated.png']).toMatch(/^cut short: the IDAT chunk at byte \d+ needs/);
    });

    it('with strict, fails naming every bad file and writes nothing', async () => {
      const home = tmp('anneal-home-');
      const err = await importFolder(join(dir, 'data'), { home, strict: true }).catch(
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      for (const name of ['escape.png', 'notes.png', 'truncated.png'])
        expect((err as Error).message).toContain(name);
      expect((err as Error).message).toMatch(/nothing was written/);
      expect(existsSync(join(home, 'datasets'))).toBe(false);
    });
  });

  it('refuses decompression bombs and oversized files', async () => {
    const dir = tmp('anneal-bomb-');
    // 3000x3000 of one colour compresses to a few KB but decodes to 27 MB.
    const bomb = await sharp({
      create: { width: 3000, height: 3000, channels: 3, background: '#808080' },
    })
      .png()
      .toBuffer();
    expect(bomb.byteLength).toBeLessThan(200_000);
    writeFileSync(join(dir, 'bomb.png'), bomb);
    writeFileSync(join(dir, 'ok.png'), png);
    const report = await importFolder(dir, {
      home: tmp('anneal-home-'),
      limits: { maxPixels: 1_000_000 },
    });
    expect(report.skipped.map((s) => s.relpath)).toEqual(['bomb.png']);
    expect(report.skipped[0]?.reason).toBe('image is 3000x3000 px, over the 1,000,000 px limit');
    const small = await importFolder(dir, {
      home: tmp('anneal-home-'),
      limits: { maxFileBytes: png.byteLength },
    });
    expect(small.skipped).toEqual([
      {
        relpath: 'bomb.png',
        reason: `file is ${bomb.byteLength.toLocaleString('en-US')} bytes, over the ${png.byteLength.toLocaleString('en-US')}-byte limit`,
      },
    ]);
  });
});
