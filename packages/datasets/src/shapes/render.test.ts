import { describe, expect, it } from 'vitest';
import type { ImageBatch } from '../images.ts';
import type { ShapesOptionsInput } from './options.ts';
import { generateShapes, renderShapes, shapesDials } from './render.ts';

const indices = Array.from({ length: 100 }, (_, i) => i);
const render = (o: ShapesOptionsInput, res = 24) => renderShapes(res, o, indices);

/** Mean number of distinct RGB colours per image. */
function distinctColours(b: ImageBatch): number {
  let total = 0;
  const per = b.height * b.width * 3;
  for (let k = 0; k < b.count; k++) {
    const seen = new Set<number>();
    for (let i = k * per; i < (k + 1) * per; i += 3) {
      seen.add(
        ((b.images[i] as number) << 16) |
          ((b.images[i + 1] as number) << 8) |
          (b.images[i + 2] as number),
      );
    }
    total += seen.size;
  }
  return total / b.count;
}

/** Mean absolute difference between horizontally adjacent pixels: high for noise, low for flat fills. */
function roughness(b: ImageBatch): number {
  let sum = 0;
  let n = 0;
  for (let i = 3; i < b.images.length; i++) {
    if (i % (b.width * 3) < 3) continue;
    sum += Math.abs((b.images[i] as number) - (b.images[i - 3] as number));
    n++;
  }
  return sum / n;
}

describe('procedural shapes', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = render({ seed: 1 });
    const b = render({ seed: 1 });
    const c = render({ seed: 2 });
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(Buffer.from(a.images).equals(Buffer.from(c.images))).toBe(false);
  });

  it('renders image i the same whatever else is rendered', () => {
    const all = render({ seed: 4 });
    const one = renderShapes(24, { seed: 4 }, [37]);
    const per = 24 * 24 * 3;
    expect(
      Buffer.from(one.images).equals(Buffer.from(all.images.subarray(37 * per, 38 * per))),
    ).toBe(true);
  });

  it('labels every class, in NHWC uint8 RGB', () => {
    const b = render({});
    expect([b.count, b.height, b.width, b.channels]).toEqual([100, 24, 24, 3]);
    expect(b.images.length).toBe(100 * 24 * 24 * 3);
    expect(new Set(b.labels)).toEqual(new Set([0, 1, 2, 3, 4]));
  });

  it('complexity dials change pixel statistics in the intended direction', () => {
    const base = { seed: 9, edges: 'hard', texture: 'flat', shapesPerImage: 1 } as const;
    // Hard edges and flat fill: exactly background + one colour.
    expect(distinctColours(render(base))).toBeLessThanOrEqual(2);
    expect(distinctColours(render({ ...base, edges: 'antialiased' }))).toBeGreaterThan(4);
    expect(distinctColours(render({ ...base, edges: 'soft' }))).toBeGreaterThan(
      distinctColours(render({ ...base, edges: 'antialiased' })),
    );
    expect(distinctColours(render({ ...base, texture: 'striped' }))).toBeGreaterThan(2);
    expect(distinctColours(render({ ...base, texture: 'striped' }))).toBeLessThanOrEqual(3);
    expect(roughness(render({ ...base, texture: 'noise' }))).toBeGreaterThan(
      1.5 * roughness(render(base)),
    );
    expect(distinctColours(render({ ...base, shapesPerImage: 4 }))).toBeGreaterThan(
      distinctColours(render(base)) + 1.5,
    );
  });

  it('mixed dials spread complexity per image, and each image renders as its own dials do', () => {
    const mixed = { seed: 5, shapesPerImage: 'mixed', texture: 'mixed', edges: 'mixed' } as const;
    const dials = indices.map((i) => shapesDials(mixed, i));
    expect(new Set(dials.map((d) => d.shapesPerImage))).toEqual(new Set([1, 2, 3, 4]));
    expect(new Set(dials.map((d) => d.texture))).toEqual(new Set(['flat', 'striped', 'noise']));
    expect(new Set(dials.map((d) => d.edges))).toEqual(new Set(['hard', 'antialiased', 'soft']));
    // Fixed options pass through unchanged.
    expect(shapesDials({ shapesPerImage: 3, texture: 'noise', edges: 'hard' }, 7)).toEqual({
      shapesPerImage: 3,
      texture: 'noise',
      edges: 'hard',
    });
    // A mixed image is pixel for pixel the image its dials would give as fixed options.
    const all = render(mixed);
    const per = 24 * 24 * 3;
    for (const i of [0, 13, 58]) {
      const one = renderShapes(24, { seed: 5, ...dials[i] }, [i]);
      expect(
        Buffer.from(one.images).equals(Buffer.from(all.images.subarray(i * per, (i + 1) * per))),
      ).toBe(true);
    }
    // Mixing changes the pixels: it is a different dataset (and content hash) from the default.
    const fixed = render({ seed: 5 });
    expect(Buffer.from(fixed.images).equals(Buffer.from(all.images))).toBe(false);
    expect(() => render({ shapesPerImage: 'many' as never })).toThrow();
  });

  it('works across resolutions and refuses ones outside 8..256, naming them', () => {
    expect(renderShapes(8, {}, [0]).images.length).toBe(8 * 8 * 3);
    expect(renderShapes(256, {}, [0]).images.length).toBe(256 * 256 * 3);
    expect(() => renderShapes(7, {}, [0])).toThrow(
      /shapes resolution 7 is not supported: use an integer in 8\.\.256/,
    );
    expect(() => renderShapes(257, {}, [0])).toThrow(/resolution 257/);
  });

  it('splits by seed into disjoint sets and refuses heldOut >= count', () => {
    const s = generateShapes(8, { count: 50, heldOut: 5 });
    expect(s.train.count + s.heldOut.count).toBe(50);
    expect(Array.from(s.trainIndices).some((i) => s.heldOutIndices.includes(i))).toBe(false);
    expect(() => generateShapes(8, { count: 10, heldOut: 10 })).toThrow(
      /heldOut must be smaller than count/,
    );
  });
});
