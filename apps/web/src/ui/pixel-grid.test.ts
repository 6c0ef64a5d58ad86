import { describe, expect, it } from 'vitest';
import {
  atDeviceScale,
  defaultGridGeometry,
  pixelScale,
  sampleFrameStep,
  tileAt,
  tileOrigin,
  zoomLimit,
} from './pixel-grid.ts';

describe('pixelScale', () => {
  it('at devicePixelRatio 1: the largest whole factor that fits, and never below 1', () => {
    // The grid of issue 14: 64 MNIST digits at 28 px is 8*28 + 9*2 = 242 px wide.
    expect(pixelScale(242, 760, 1)).toEqual({ device: 3, css: 3 });
    expect(pixelScale(242, 726, 1)).toEqual({ device: 3, css: 3 });
    expect(pixelScale(242, 725, 1)).toEqual({ device: 2, css: 2 });
    expect(pixelScale(242, 100, 1)).toEqual({ device: 1, css: 1 });
    expect(pixelScale(0, 100, 1)).toEqual({ device: 1, css: 1 });
  });

  it('counts whole device pixels at fractional ratios, so every image pixel is as wide as the next', () => {
    for (const dpr of [1, 1.25, 1.5, 2]) {
      for (const available of [100, 500, 725, 726, 760, 1000]) {
        const s = pixelScale(242, available, dpr);
        expect(Number.isInteger(s.device)).toBe(true);
        expect(s.css * dpr).toBeCloseTo(s.device, 12);
        // Fits, unless even the least scale does not; one device pixel more would not fit.
        if (s.device > Math.ceil(dpr)) expect(242 * s.css).toBeLessThanOrEqual(available);
        expect((242 * (s.device + 1)) / dpr).toBeGreaterThan(available);
      }
    }
    // 726 CSS px at 1.25 is 907.5 device px: 3 device px per pixel (726 px) fit, 4 do not
    // (968 px). Whole CSS pixels would have said 3, which is 3.75 device px: uneven.
    expect(pixelScale(242, 726, 1.25)).toEqual({ device: 3, css: 2.4 });
    expect(pixelScale(242, 775, 1.25)).toEqual({ device: 4, css: 3.2 });
    expect(pixelScale(242, 726, 1.5)).toEqual({ device: 4, css: 4 / 1.5 });
    expect(pixelScale(242, 726, 2)).toEqual({ device: 6, css: 3 });
    // Never below natural size: at least ceil(dpr) device pixels per image pixel.
    expect(pixelScale(242, 100, 1.25)).toEqual({ device: 2, css: 1.6 });
    expect(pixelScale(242, 100, 1.5)).toEqual({ device: 2, css: 2 / 1.5 });
    expect(pixelScale(242, 100, 2)).toEqual({ device: 2, css: 1 });
    // A ratio the browser did not give is taken as 1.
    expect(pixelScale(242, 726, Number.NaN)).toEqual({ device: 3, css: 3 });
    expect(atDeviceScale(5, 1.25)).toEqual({ device: 5, css: 4 });
  });

  it('caps Zoom in at the scale that fits four times the space', () => {
    expect(zoomLimit(242, 726, 1, 3)).toBe(12);
    expect(zoomLimit(242, 726, 1.25, 3)).toBe(15);
    expect(zoomLimit(242, 726, 2, 6)).toBe(24);
    // A grid too large to fit still zooms one step.
    expect(zoomLimit(242, 10, 1, 1)).toBe(2);
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
