import { describe, expect, it } from 'vitest';
import { measureConv, measureMatmul } from './index.ts';

describe('measured throughput', () => {
  it('counts matmul FLOPs and measures a positive rate', async () => {
    const r = await measureMatmul({ n: 128, iterations: 2 });
    expect(r.flops).toBe(2 * 128 ** 3);
    expect(r.iterations).toBe(2);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.gflops).toBeCloseTo(r.flops / r.seconds / 1e9, 6);
  });

  it('counts conv forward + backward FLOPs as three forwards', async () => {
    const r = await measureConv({ batch: 2, size: 8, channels: 4, kernel: 3, iterations: 1 });
    expect(r.flops).toBe(3 * 2 * 2 * 8 * 8 * 4 * 4 * 9);
    expect(r.gflops).toBeGreaterThan(0);
  });

  it('rejects bad options with a RangeError naming the field', async () => {
    expect(() => measureMatmul({ n: 0 })).toThrow(/options\.n must be >= 1/);
  });
});
