import { describe, expect, it } from 'vitest';
import { createRng, permutation, splitIndices } from './random.ts';

describe('seeded randomness', () => {
  it('repeats per (seed, stream) and differs across them', () => {
    const draw = (seed: number, stream: number) => {
      const rng = createRng(seed, stream);
      return Array.from({ length: 8 }, () => rng.next());
    };
    expect(draw(1, 2)).toEqual(draw(1, 2));
    expect(draw(1, 2)).not.toEqual(draw(1, 3));
    expect(draw(1, 2)).not.toEqual(draw(2, 2));
    for (const v of draw(7, 0)) expect(v >= 0 && v < 1).toBe(true);
  });

  it('draws roughly uniform integers over the whole range', () => {
    const rng = createRng(0);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 50_000; i++) counts[rng.int(0, 4)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it('permutes every index exactly once', () => {
    const p = permutation(1000, 3);
    expect(new Set(p).size).toBe(1000);
    expect(Math.max(...p)).toBe(999);
    expect(Array.from(p)).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('refuses held-out counts that leave nothing to train on', () => {
    expect(() => splitIndices(10, 10, 0)).toThrow(
      /held-out count 10 must be an integer in \[0, 9\]/,
    );
    expect(() => splitIndices(10, 1.5, 0)).toThrow(/held-out count 1.5/);
    expect(splitIndices(10, 0, 0).heldOut.length).toBe(0);
  });
});
