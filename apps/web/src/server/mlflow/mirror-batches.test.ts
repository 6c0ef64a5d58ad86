import { describe, expect, it } from 'vitest';
import { BATCH_BYTES, fitEntries, mlflowKeyProblem, paramTagBatches } from './mirror-batches.ts';

describe("the mirror's batches fit MLflow's limits", () => {
  it('cuts long values and leaves out keys MLflow refuses', () => {
    const { kept, left } = fitEntries(
      [
        { key: 'lr', value: '0.01' },
        { key: 'notes', value: 'x'.repeat(10_000) },
        { key: 'k'.repeat(251), value: 'v' },
        { key: '../up', value: 'v' },
        { key: 'emoji', value: '😀'.repeat(7000) },
      ],
      6000,
    );
    expect(kept.map((e) => [e.key, Array.from(e.value).length])).toEqual([
      ['lr', 4],
      ['notes', 6000],
      ['emoji', 6000],
    ]);
    expect(left).toHaveLength(2);
    expect(left[0]).toMatch(/longer than MLflow's 250 characters/);
    expect(left[1]).toMatch(/not a normalized relative path/);
    expect(mlflowKeyProblem('samples/fd score:1')).toBeNull();
    expect(mlflowKeyProblem('a\nb')).toMatch(/characters/);
    expect(mlflowKeyProblem('a//b')).toMatch(/normalized/);
    expect(mlflowKeyProblem('a/')).toMatch(/normalized/);
    expect(mlflowKeyProblem('/a')).toMatch(/normalized/);
    expect(mlflowKeyProblem('größe')).toBeNull();
  });

  it('splits params and tags by count and by bytes', () => {
    const entries = (n: number, len: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: 'v'.repeat(len) }));
    const batches = paramTagBatches(entries(100, 6000, 'p'), entries(100, 8000, 't'));
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) {
      expect(b.params.length).toBeLessThanOrEqual(100);
      expect(b.tags.length).toBeLessThanOrEqual(100);
      expect(Buffer.byteLength(JSON.stringify({ run_id: 'x'.repeat(32), ...b }))).toBeLessThan(
        BATCH_BYTES + 1000,
      );
    }
    expect(batches.flatMap((b) => b.params)).toHaveLength(100);
    expect(batches.flatMap((b) => b.tags)).toHaveLength(100);
    expect(paramTagBatches(entries(250, 1, 'p'), [])).toHaveLength(3);
    expect(paramTagBatches([], [])).toEqual([]);
  });
});
