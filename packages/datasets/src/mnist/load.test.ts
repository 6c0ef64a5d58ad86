import { describe, expect, it } from 'vitest';
import { loadMnist, loadMnistDigits } from './load.ts';

describe('MNIST from the mnist package', () => {
  it('holds 10,000 labelled 28x28 digits as bytes', () => {
    const all = loadMnistDigits();
    expect([all.count, all.height, all.width, all.channels]).toEqual([10_000, 28, 28, 1]);
    const perDigit = new Array(10).fill(0);
    for (const l of all.labels) perDigit[l]++;
    // The package's own per-digit counts (it is not exactly the MNIST test set's split).
    expect(perDigit).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    expect(perDigit.reduce((a, b) => a + b)).toBe(10_000);
    expect(Math.min(...perDigit)).toBeGreaterThan(800);
    expect(Math.max(...all.images.subarray(0, 784 * 50))).toBe(255);
    // Digits are white strokes on black: most pixels are 0, and the border is empty.
    const zeros = all.images.subarray(0, 784 * 100).filter((v) => v === 0).length;
    expect(zeros / (784 * 100)).toBeGreaterThan(0.7);
  });

  it('splits deterministically by seed into disjoint train and held-out sets', () => {
    const a = loadMnist(28, { seed: 5 });
    const b = loadMnist(28, { seed: 5 });
    expect(Array.from(a.heldOutIndices)).toEqual(Array.from(b.heldOutIndices));
    expect(Buffer.from(a.heldOut.images).equals(Buffer.from(b.heldOut.images))).toBe(true);
    expect(a.heldOut.count).toBe(1_000);
    expect(a.train.count).toBe(9_000);
    const held = new Set(a.heldOutIndices);
    expect(held.size).toBe(1_000);
    expect(Array.from(a.trainIndices).some((i) => held.has(i))).toBe(false);
    expect(new Set([...a.trainIndices, ...a.heldOutIndices]).size).toBe(10_000);
    const c = loadMnist(28, { seed: 6 });
    expect(Array.from(c.heldOutIndices)).not.toEqual(Array.from(a.heldOutIndices));
    const small = loadMnist(28, { seed: 5, heldOut: 100 });
    expect(small.heldOut.count).toBe(100);
    // The held-out digits cover every class.
    expect(new Set(a.heldOut.labels).size).toBe(10);
  });

  it('pads to 32 with a 2-pixel zero border around the native digit', () => {
    const n = loadMnist(28).train;
    const p = loadMnist(32).train;
    expect([p.height, p.width, p.channels]).toEqual([32, 32, 1]);
    for (const k of [0, 4321]) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const v = p.images[k * 1024 + y * 32 + x];
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          expect(v).toBe(inside ? n.images[k * 784 + (y - 2) * 28 + (x - 2)] : 0);
        }
      }
    }
    expect(Array.from(p.labels)).toEqual(Array.from(n.labels));
  });

  it('refuses other resolutions, naming the value', () => {
    expect(() => loadMnist(30)).toThrow(
      /MNIST resolution 30 is not supported: use 28 \(native\) or 32/,
    );
  });
});
