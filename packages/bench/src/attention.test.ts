import { memoryStats } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { attentionSection, benchAttention, tinyAttentionShape } from './attention.ts';

describe('attention benchmark', () => {
  it("takes the tiny preset's attention shape: level 1, 8 heads of 8", () => {
    expect(tinyAttentionShape(32)).toEqual({ tokens: 256, heads: 8, headDim: 8 });
    expect(tinyAttentionShape(128)).toEqual({ tokens: 4096, heads: 8, headDim: 8 });
  });

  // Toy sizes: the records are complete and consistent, and MLX's limit is restored; the
  // numbers themselves are bench/RESULTS.md's business.
  it('records every kind and pass with ratios against fused, and restores the memory limit', async () => {
    const limit = memoryStats().limitBytes;
    const r = await benchAttention({
      resolutions: [16],
      batch: 1,
      rounds: 1,
      sliceDivisors: [4],
      limitOverCounted: 2,
    });
    expect(memoryStats().limitBytes).toBe(limit);
    expect(r.rows.map((x) => `${x.pass} ${x.kind} ${x.slice} ${x.limit_bytes !== null}`)).toEqual(
      ['forward', 'forward+backward'].flatMap((p) => [
        `${p} fused null false`,
        `${p} sliced 16 false`,
        `${p} linear null false`,
        `${p} sliced 16 true`,
      ]),
    );
    for (const x of r.rows) {
      expect(x.peak_bytes).toBeGreaterThan(0);
      expect(x.seconds_median).toBeGreaterThan(0);
      if (x.kind === 'fused') expect([x.peak_vs_fused, x.time_vs_fused]).toEqual([1, 1]);
    }
    const md = attentionSection(r, 'this machine');
    expect(md).toContain('### forward+backward');
    expect(md).toContain('| 16 px (64 tokens) | sliced 16 |');
  });
});
