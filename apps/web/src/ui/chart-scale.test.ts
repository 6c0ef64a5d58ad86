import { describe, expect, it } from 'vitest';
import {
  axisFor,
  binaryUnit,
  emaSmooth,
  labelWidth,
  linearTicks,
  logTickLabels,
  logTicks,
  scientific,
  tickLabels,
} from './chart-scale.ts';
import { bytes, count } from './format.ts';

describe('axisFor', () => {
  it('reads memory in binary units chosen by the largest value', () => {
    const peak = 123_456_789; // about 117.7 MiB
    const axis = axisFor('peak_memory_bytes', peak);
    expect(axis.title).toBe('peak memory (MiB)');
    expect(axis.divisor).toBe(2 ** 20);
    expect(axis.value(peak)).toBe('117.7 MiB');
    expect(axisFor('active_memory_bytes', 3 * 2 ** 30).title).toBe('active memory (GiB)');
    expect(axisFor('peak_memory_bytes', 3 * 2 ** 30).value(1.5 * 2 ** 30)).toBe('1.5 GiB');
  });

  it('reads throughput as img/s, learning rates in scientific notation, wall time in s', () => {
    expect(axisFor('images_per_s', 300).title).toBe('throughput (img/s)');
    expect(axisFor('images_per_s', 300).value(312.345)).toBe('312.3 img/s');
    const lr = axisFor('lr', 3e-4);
    expect(lr.title).toBe('learning rate');
    expect(lr.scientific).toBe(true);
    expect(lr.value(0.0003)).toBe('3e-4');
    expect(lr.value(0.00025)).toBe('2.5e-4');
    expect(axisFor('wall_s', 10).title).toBe('wall (s)');
    expect(axisFor('loss', 1).title).toBe('loss');
    expect(axisFor('grad_norm', 1).title).toBe('grad norm');
  });
});

describe('binaryUnit', () => {
  it('picks the largest unit the value reaches', () => {
    expect(binaryUnit(512).unit).toBe('B');
    expect(binaryUnit(2048).unit).toBe('KiB');
    expect(binaryUnit(2 ** 20).unit).toBe('MiB');
    expect(binaryUnit(2 ** 30 - 1).unit).toBe('MiB');
    expect(binaryUnit(5 * 2 ** 30).unit).toBe('GiB');
  });
});

describe('scientific', () => {
  it('drops trailing zeros and the plus sign', () => {
    expect(scientific(1e-3)).toBe('1e-3');
    expect(scientific(0.000125)).toBe('1.25e-4');
    expect(scientific(12345)).toBe('1.235e4');
    expect(scientific(0)).toBe('0');
  });
});

describe('linearTicks', () => {
  it('gives round steps covering the range', () => {
    expect(linearTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(0.013, 0.087)).toEqual([0.02, 0.04, 0.06, 0.08]);
    expect(linearTicks(0, 1000, 5)).toEqual([0, 200, 400, 600, 800, 1000]);
  });

  it('steps are 1, 2 or 5 times a power of ten and stay inside the range', () => {
    for (const [lo, hi] of [
      [3.7, 91.2],
      [-0.5, 0.25],
      [117.7, 118.1],
      [1e-5, 3e-4],
    ] as const) {
      const t = linearTicks(lo, hi);
      expect(t.length).toBeGreaterThanOrEqual(2);
      const step = (t[1] as number) - (t[0] as number);
      const mantissa = Number((step / 10 ** Math.floor(Math.log10(step) + 1e-9)).toPrecision(6));
      expect([1, 2, 5]).toContain(mantissa);
      expect(t[0]).toBeGreaterThanOrEqual(lo - step * 1e-6);
      expect(t.at(-1)).toBeLessThanOrEqual(hi + step * 1e-6);
    }
  });

  it('returns the one value of an empty range', () => {
    expect(linearTicks(2, 2)).toEqual([2]);
  });
});

describe('logTicks', () => {
  it('puts ticks at powers of ten, with 2 and 5 over few decades', () => {
    expect(logTicks(-2, 0)).toEqual([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]);
    expect(logTicks(-4, 0)).toEqual([1e-4, 1e-3, 0.01, 0.1, 1]);
  });

  it('falls back to linear ticks inside one decade without a power of ten', () => {
    const t = logTicks(Math.log10(0.021), Math.log10(0.048));
    expect(t.length).toBeGreaterThanOrEqual(2);
    for (const v of t) {
      expect(v).toBeGreaterThanOrEqual(0.021);
      expect(v).toBeLessThanOrEqual(0.048);
    }
  });
});

describe('tickLabels', () => {
  it('uses as many decimals as the spacing needs, the same for every tick', () => {
    expect(tickLabels([0, 0.2, 0.4])).toEqual(['0.0', '0.2', '0.4']);
    expect(tickLabels([0.02, 0.04, 0.06])).toEqual(['0.02', '0.04', '0.06']);
    expect(tickLabels([0, 50_000, 100_000])).toEqual(['0', '50,000', '100,000']);
    expect(tickLabels([117.6, 117.8, 118])).toEqual(['117.6', '117.8', '118.0']);
  });
});

describe('labelWidth', () => {
  it('grows with the label and covers every digit', () => {
    const short = labelWidth(['0.2'], 11);
    const long = labelWidth(['120,000,000'], 11);
    expect(long).toBeGreaterThan(short);
    // DejaVu Sans (advances 1303/2048 em per digit, 651/2048 em per comma) at 11 px: 69.98 px.
    expect(long).toBeGreaterThanOrEqual(((9 * 1303 + 2 * 651) / 2048) * 11);
    expect(labelWidth(['−0.25'], 11)).toBeGreaterThanOrEqual(((1716 + 3 * 1303 + 651) / 2048) * 11);
    expect(labelWidth(['1', '100,000'])).toBe(labelWidth(['100,000']));
  });
});

describe('emaSmooth', () => {
  it('is the identity at weight 0', () => {
    expect(emaSmooth([3, 1, 2], 0)).toEqual([3, 1, 2]);
  });

  it('debiases: the first point is unchanged and a constant stays constant', () => {
    const s = emaSmooth([5, 5, 5, 5], 0.9);
    for (const v of s) expect(v).toBeCloseTo(5, 12);
    expect(emaSmooth([7, 0], 0.6)[0]).toBeCloseTo(7, 12);
  });

  it('follows the EMA recurrence and damps noise', () => {
    const w = 0.6;
    const s = emaSmooth([1, 0], w);
    // ((1-w)*1*w + (1-w)*0) / (1 - w^2)
    expect(s[1]).toBeCloseTo(((1 - w) * w) / (1 - w * w), 12);
    const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 1 : -1));
    const smooth = emaSmooth(noisy, 0.9);
    expect(Math.abs(smooth.at(-1) as number)).toBeLessThan(0.1);
  });

  it('passes non-finite values through without poisoning the average', () => {
    const s = emaSmooth([1, Number.NaN, 1], 0.5);
    expect(Number.isNaN(s[1])).toBe(true);
    expect(s[2]).toBeCloseTo(1, 12);
  });
});

describe('count', () => {
  it('says "1 run" and "2 runs"', () => {
    expect(count(1, 'run')).toBe('1 run');
    expect(count(0, 'run')).toBe('0 runs');
    expect(count(2, 'machine')).toBe('2 machines');
    expect(count(1, 'batch', 'batches')).toBe('1 batch');
  });
});

describe('bytes', () => {
  it('writes binary units as KiB, MiB and GiB', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1229)).toBe('1.2 KiB');
    expect(bytes(11 * 2 ** 20)).toBe('11 MiB');
    expect(bytes(3 * 2 ** 30)).toBe('3.0 GiB');
  });
});

describe('linearTicks on ranges a few ulps wide', () => {
  it('returns a few ticks instead of looping forever', () => {
    // 1 + 2^-52 is the next double after 1: the step is far below half an ulp of 1.
    const a = linearTicks(1, 1 + 2 ** -52);
    expect(a.length).toBeGreaterThanOrEqual(1);
    expect(a.length).toBeLessThanOrEqual(6);
    const b = linearTicks(0.3, 0.1 + 0.2);
    expect(b.length).toBeGreaterThanOrEqual(1);
    expect(b.length).toBeLessThanOrEqual(6);
    const c = logTicks(Math.log10(0.3), Math.log10(0.1 + 0.2));
    expect(c.length).toBeLessThanOrEqual(6);
  });

  it('never returns more than 50 ticks', () => {
    expect(linearTicks(0, 1, 10_000).length).toBeLessThanOrEqual(50);
  });
});

describe('log axes', () => {
  it('show at most 8 ticks however many decades', () => {
    const t = logTicks(-30, 10);
    expect(t.length).toBeGreaterThanOrEqual(2);
    expect(t.length).toBeLessThanOrEqual(8);
    expect(t).toContain(1);
    expect(logTicks(-2.9, 0).length).toBeLessThanOrEqual(8);
  });

  it('format each tick on its own, not with the decimals of the first spacing', () => {
    expect(logTickLabels([1e-4, 0.01, 0.02, 0.5, 1, 100_000])).toEqual([
      '1e-4',
      '0.01',
      '0.02',
      '0.5',
      '1',
      '100,000',
    ]);
  });
});
