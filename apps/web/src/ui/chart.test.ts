import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { LineChart } from './chart.tsx';
import { downsampleIndices, extent } from './chart-scale.ts';

const render = (values: number[]) =>
  renderToStaticMarkup(
    createElement(LineChart, {
      metric: 'loss',
      series: [
        { name: 'a', color: '#000', points: values.map((value, step) => ({ step, value })) },
      ],
    }),
  );

describe('LineChart', () => {
  it('draws a series of 200,000 points from at most about 2,000 of them', () => {
    const values = Array.from({ length: 200_000 }, (_, i) => 1 / (1 + i / 1000));
    const svg = render(values);
    const points = /class="series" stroke="#000" points="([^"]*)"/.exec(svg)?.[1]?.split(' ');
    expect(points?.length).toBeGreaterThan(100);
    expect(points?.length).toBeLessThanOrEqual(2002);
  });

  it('draws values a few ulps apart as one value', () => {
    const svg = render([0.3, 0.1 + 0.2, 0.3]);
    expect(svg).toContain('class="series"');
    expect((svg.match(/class="axis-label"/g) ?? []).length).toBeLessThan(20);
  });
});

describe('extent', () => {
  it('takes more values than Math.min accepts as arguments', () => {
    const values = Array.from({ length: 300_000 }, (_, i) => Math.sin(i));
    expect(() => Math.min(...values)).toThrow(RangeError);
    const [lo, hi] = extent(values) ?? [];
    expect(lo).toBeLessThan(-0.99999);
    expect(hi).toBeGreaterThan(0.99999);
    expect(extent([])).toBeNull();
  });
});

describe('downsampleIndices', () => {
  it('keeps the first and last points and every bucket’s lowest and highest', () => {
    const values = Array.from({ length: 100_000 }, () => 1);
    values[31_337] = 50;
    values[77_777] = -3;
    const keep = downsampleIndices(values, 2000);
    expect(keep.length).toBeLessThanOrEqual(2002);
    expect(keep[0]).toBe(0);
    expect(keep.at(-1)).toBe(99_999);
    expect(keep).toContain(31_337);
    expect(keep).toContain(77_777);
    for (let i = 1; i < keep.length; i++) expect(keep[i]).toBeGreaterThan(keep[i - 1] as number);
    expect(downsampleIndices([1, 2, 3], 2000)).toEqual([0, 1, 2]);
  });
});
