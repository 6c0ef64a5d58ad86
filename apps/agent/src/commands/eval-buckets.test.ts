import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAnneal } from '../testing/run-cli.ts';

// Issue 16 §1 and §5: a multi-resolution model trains on aspect buckets, so it samples them
// and is scored on them, each bucket against its own held-out images beside its own floor.
const home = mkdtempSync(join(tmpdir(), 'anneal-eval-buckets-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const model = join(home, 'multi');

interface Entry {
  resolution: number;
  width?: number;
  n: number;
  fd: number;
  floor_fd: number;
  fd_spread?: { std: number };
}

beforeAll(async () => {
  // An unlabelled folder (no subfolders): the autoencoder extractor, whose decoder is the
  // part of the ruler that depends on the shape. Each aspect's images differ in content
  // too (a bar along the long side at a place of their own), so the buckets are different
  // distributions.
  const dir = join(home, 'mixed');
  mkdirSync(dir, { recursive: true });
  for (const [name, w, h] of [
    ['wide', 48, 24],
    ['tall', 20, 40],
    ['square', 30, 30],
  ] as const) {
    for (let i = 0; i < 200; i++) {
      const px = Buffer.alloc(w * h * 3, 20);
      const at = (i * 7) % Math.min(w, h);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          if ((w >= h ? y : x) === at)
            px.fill(200 + (i % 50), (y * w + x) * 3, (y * w + x) * 3 + 3);
      writeFileSync(
        join(dir, `${name}-${i}.png`),
        await sharp(px, { raw: { width: w, height: h, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
  }
  const r = runAnneal(
    [
      ...['train', '--dataset', `folder:${dir}`, '--multi-resolution', '--resolution', '16'],
      ...['--preset', 'tiny', '--batch', '4', '--steps', '6', '--sample-every', '0'],
      ...['--out', model],
    ],
    home,
  );
  if (r.status !== 0) throw new Error(`anneal train exited ${r.status}: ${r.stderr}`);
}, 180_000);

const quick = [
  ...['eval', '--model', model, '--n', '10', '--extractor-steps', '30'],
  ...['--extractor-width', '8', '--sampler', 'euler', '--steps', '2'],
];

describe('anneal eval on a multi-resolution model', () => {
  it('records how the version was sorted, so evaluation finds the same buckets', () => {
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    expect(config.buckets).toEqual({
      target: 16,
      factor: 2,
      min_count: 4,
      shapes: [
        { height: 22, width: 12 },
        { height: 16, width: 16 },
        { height: 12, width: 22 },
      ],
    });
  });

  it('scores every bucket by default, each against its own held-out images and floor', () => {
    const r = runAnneal(
      [...quick, '--spread', '4', '--grid', join(home, 'grid.png'), '--json'],
      home,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/at 22x12:[\s\S]*at 16x16:[\s\S]*at 12x22:/);
    const j = r.json as { resolution: number; width?: number; fd: number; per_resolution: Entry[] };
    expect(j.per_resolution.map((e) => [e.resolution, e.width])).toEqual([
      [22, 12],
      [16, undefined],
      [12, 22],
    ]);
    // The top level is the first bucket's.
    expect([j.resolution, j.width, j.fd]).toEqual([22, 12, j.per_resolution[0]?.fd]);
    for (const e of j.per_resolution) {
      expect(e.n).toBe(10);
      expect(Number.isFinite(e.fd) && e.fd > 0).toBe(true);
      expect(Number.isFinite(e.floor_fd) && e.floor_fd > 0).toBe(true);
      expect(e.fd_spread?.std).toBeGreaterThan(0);
    }
    // Three rulers: each bucket's own extractor and real images.
    expect(new Set(j.per_resolution.map((e) => e.floor_fd)).size).toBe(3);
    // The grid is the first bucket's 10 samples: 4 x 3 tiles of 12 x 22 px (w x h), 2 px apart.
    const png = readFileSync(join(home, 'grid.png'));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([4 * 12 + 5 * 2, 3 * 22 + 4 * 2]);
  }, 300_000);

  it('scores the buckets asked for, with the same numbers as the full run', () => {
    const all = runAnneal([...quick, '--json'], home);
    const one = runAnneal([...quick, '--resolution', '12x22', '--json'], home);
    expect(one.status, one.stderr).toBe(0);
    const j = one.json as { per_resolution: Entry[] };
    expect(j.per_resolution).toHaveLength(1);
    const wide = (all.json as { per_resolution: Entry[] }).per_resolution[2];
    expect(j.per_resolution[0]).toEqual(wide);
  }, 300_000);

  it('refuses a shape that is not one of its buckets, naming them', () => {
    const r = runAnneal([...quick, '--resolution', '24x40'], home);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /--resolution: 24x40 is not one of this model's aspect buckets \(22x12, 16x16, 12x22\)/,
    );
  });

  it('resolves ays at the bucket: its sigmas move with the resolution shift', () => {
    const sigmas = (size: string) => {
      const r = runAnneal(
        [
          ...['sample', '--model', model, '--n', '1', '--steps', '3', '--schedule', 'ays'],
          ...['--size', size, '--out', join(home, 'ays.png'), '--json'],
        ],
        home,
      );
      expect(r.status, r.stderr).toBe(0);
      return (r.json as { sigmas: number[] }).sigmas;
    };
    const square = sigmas('16');
    const wide = sigmas('12x22');
    // Based at 16 px: 12 x 22 holds 264 pixels, so every sigma is sqrt(264) / 16 times larger.
    const ratio = (i: number) => (wide.at(i) as number) / (square.at(i) as number);
    expect(ratio(0)).toBeCloseTo(Math.sqrt(264) / 16, 10);
    expect(ratio(-2)).toBeCloseTo(Math.sqrt(264) / 16, 10);
  }, 120_000);

  it('anneal sample --size draws a bucket, and says when a shape is not one it trained on', () => {
    const out = join(home, 'wide.png');
    const base = ['sample', '--model', model, '--n', '4', '--steps', '2', '--sampler', 'euler'];
    const r = runAnneal([...base, '--size', '12x22', '--out', out, '--json'], home);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/warning/);
    // 2 x 2 tiles of 22 x 12 px (w x h), 2 px apart.
    const png = readFileSync(out);
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([2 * 22 + 3 * 2, 2 * 12 + 3 * 2]);
    const other = runAnneal([...base, '--size', '20x8', '--out', out], home);
    expect(other.status, other.stderr).toBe(0);
    expect(other.stderr).toMatch(
      /warning: 20x8 is not a shape this model trained on \(22x12, 16x16, 12x22\)/,
    );
    const odd = runAnneal([...base, '--size', '13x22', '--out', out], home);
    expect(odd.status).toBe(2);
    expect(odd.stderr).toMatch(/--size: 13x22: this U-Net takes sides that are multiples of 2/);
  }, 120_000);

  it('anneal bench --only multi-resolution records every bucket beside its floor', () => {
    const results = join(home, 'bench');
    const r = runAnneal(
      [
        ...['bench', '--only', 'multi-resolution', '--model', model, '--smoke', '--n', '10'],
        ...['--extractor-steps', '30', '--extractor-width', '8', '--results', results, '--json'],
      ],
      home,
    );
    expect(r.status, r.stderr).toBe(0);
    const file = JSON.parse(readFileSync(join(results, 'multi-resolution.json'), 'utf8'));
    expect(file.partial).toBeUndefined();
    const buckets = file.result.buckets as Array<{ height: number; width: number; ratio: number }>;
    expect(buckets.map((b) => `${b.height}x${b.width}`)).toEqual(['22x12', '16x16', '12x22']);
    // The same ruler as anneal eval: the same numbers at the same n, seed and sampler.
    const ev = runAnneal(
      [
        ...quick.slice(0, -4),
        '--sampler',
        'dpmpp-2m',
        '--steps',
        '2',
        '--resolution',
        '16',
        '--json',
      ],
      home,
    );
    expect(ev.status, ev.stderr).toBe(0);
    const square = (ev.json as { per_resolution: Entry[] }).per_resolution[0] as Entry;
    expect(buckets[1]?.ratio).toBeCloseTo(square.fd / square.floor_fd, 12);
    const md = readFileSync(join(results, 'RESULTS.md'), 'utf8');
    expect(md).toMatch(/\| 12x22 \| \d+ \/ \d+ \| 10 \|/);
    expect(md).toMatch(/the largest is \*\*[\d.]+x\*\* the smallest/);
  }, 300_000);

  it('imports the folder again into an ANNEAL_HOME that lacks its version, and names a changed one', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'anneal-eval-buckets-fresh-'));
    try {
      const r = runAnneal([...quick, '--resolution', '16', '--json'], fresh);
      expect(r.status, r.stderr).toBe(0);
      expect((r.json as { per_resolution: Entry[] }).per_resolution).toHaveLength(1);
      // The folder changed since: another version, refused with both hashes.
      const other = mkdtempSync(join(tmpdir(), 'anneal-eval-buckets-other-'));
      const extra = join(home, 'mixed', 'extra.png');
      copyFileSync(join(home, 'mixed', 'wide-0.png'), extra);
      try {
        const changed = runAnneal([...quick, '--resolution', '16'], other);
        expect(changed.status).not.toBe(0);
        expect(changed.stderr).toMatch(
          /the folder .*mixed now makes dataset version [0-9a-f]{64}, but the model was trained on [0-9a-f]{64}/,
        );
      } finally {
        rmSync(extra);
        rmSync(other, { recursive: true, force: true });
      }
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  }, 300_000);
});
