import { describe, expect, it } from 'vitest';
import {
  defaultGridGeometry,
  integerScale,
  sampleFrameStep,
  tileAt,
  tileOrigin,
} from './pixel-grid.ts';

describe('integerScale', () => {
  it('is the largest whole factor that fits, and never below 1', () => {
    // The grid of issue 14: 64 MNIST digits at 28 px is 8*28 + 9*2 = 242 px wide.
    expect(integerScale(242, 760)).toBe(3);
    expect(integerScale(242, 726)).toBe(3);
    expect(integerScale(242, 725)).toBe(2);
    expect(integerScale(242, 100)).toBe(1);
    expect(integerScale(0, 100)).toBe(1);
  });
});

describe('grid geometry', () => {
  const g = defaultGridGeometry(242, 64, null);

  it('reads tileGrid’s layout back from the width', () => {
    expect(g).toEqual({ n: 64, columns: 8, pad: 2, size: 28, classes: null });
    // A width tileGrid cannot have made for that n is not guessed at.
    expect(defaultGridGeometry(243, 64)).toBeNull();
    expect(defaultGridGeometry(242, 0)).toBeNull();
  });

  it('finds the image under a point, and none on a gutter or past the last image', () => {
    if (!g) throw new Error('no geometry');
    expect(tileAt(g, 2, 2)).toBe(0);
    expect(tileAt(g, 29, 29)).toBe(0);
    expect(tileAt(g, 30, 10)).toBeNull(); // the gutter between 0 and 1
    expect(tileAt(g, 32, 10)).toBe(1);
    expect(tileAt(g, 2 + 7 * 30, 2 + 7 * 30)).toBe(63);
    expect(tileAt(g, 1, 1)).toBeNull();
    const five = { ...g, n: 5, columns: 3 };
    expect(tileAt(five, 2 + 2 * 30, 2 + 30)).toBeNull(); // row 1, column 2: image 5 of 0..4
    for (const i of [0, 9, 63]) {
      const o = tileOrigin(g, i);
      expect(tileAt(g, o.x, o.y)).toBe(i);
      expect(tileAt(g, o.x + 27, o.y + 27)).toBe(i);
    }
  });

  it('reads a training grid’s step from its artifact path only', () => {
    expect(sampleFrameStep('samples/step-500.png')).toBe(500);
    expect(sampleFrameStep('samples/grid.png')).toBeNull();
    expect(sampleFrameStep('other/samples/step-5.png')).toBeNull();
  });
});
