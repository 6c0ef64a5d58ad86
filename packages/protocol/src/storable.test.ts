import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { findNul, storable, timestampSchema } from './storable.ts';

describe('storable', () => {
  it('finds a NUL in strings, keys and nested arrays, with its path', () => {
    expect(findNul({ a: ['ok', { b: 'x\u0000' }] })).toEqual(['a', 1, 'b']);
    expect(findNul({ 'k\u0000': 1 })).toEqual(['k\u0000']);
    expect(findNul('\u0000')).toEqual([]);
    expect(findNul({ a: [1, null, true, 'fine'], d: new Date(0) })).toBeNull();
  });

  it('refuses through the wrapped schema and leaves other values alone', () => {
    const schema = storable(z.object({ name: z.string(), tags: z.record(z.string(), z.string()) }));
    expect(schema.safeParse({ name: 'a', tags: { k: 'v' } }).success).toBe(true);
    const bad = schema.safeParse({ name: 'a', tags: { k: 'v\u0000' } });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['tags', 'k'] });
  });

  it('takes timestamps PostgreSQL stores, and no others', () => {
    expect(timestampSchema.safeParse('0001-01-01T00:00:00Z').success).toBe(true);
    expect(timestampSchema.safeParse('2026-12-01T10:00:00+02:00').success).toBe(true);
    expect(timestampSchema.safeParse('9999-12-31T23:59:59Z').success).toBe(true);
    expect(timestampSchema.safeParse('0000-01-01T00:00:00Z').success).toBe(false);
    expect(timestampSchema.safeParse('0000-12-31T23:00:00-02:00').success).toBe(true);
    expect(timestampSchema.safeParse('9999-12-31T23:00:00-02:00').success).toBe(false);
  });
});
