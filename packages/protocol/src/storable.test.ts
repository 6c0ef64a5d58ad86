import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DEPTH_MESSAGE,
  findUnstorable,
  MAX_DEPTH,
  NUL_MESSAGE,
  SURROGATE_MESSAGE,
  storable,
  timestampSchema,
} from './storable.ts';

const pathOf = (value: unknown) => findUnstorable(value)?.path ?? null;

/** `depth` arrays, each the only element of the one around it. */
function nested(depth: number): unknown {
  let value: unknown = 'x';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('storable', () => {
  it('finds a NUL in strings, keys and nested arrays, with its path', () => {
    expect(pathOf({ a: ['ok', { b: 'x\u0000' }] })).toEqual(['a', 1, 'b']);
    expect(pathOf({ 'k\u0000': 1 })).toEqual(['k\u0000']);
    expect(pathOf('\u0000')).toEqual([]);
    expect(pathOf({ a: [1, null, true, 'fine'], d: new Date(0) })).toBeNull();
    // The first in document order, keys before their values.
    expect(pathOf({ a: 'ok', b: { c: ['\u0000'] }, 'd\u0000': 1 })).toEqual(['b', 'c', 0]);
    expect(findUnstorable({ a: '\u0000' })?.message).toBe(NUL_MESSAGE);
  });

  it('finds unpaired surrogates in strings and keys, and takes pairs', () => {
    expect(findUnstorable({ tags: { a: '\ud800' } })).toEqual({
      path: ['tags', 'a'],
      message: SURROGATE_MESSAGE,
    });
    expect(pathOf({ tags: { 'x\udc00': 'v' } })).toEqual(['tags', 'x\udc00']);
    expect(pathOf(['ok', 'low first \udc00\ud800'])).toEqual([1]);
    expect(pathOf({ emoji: '\ud83d\ude00', text: 'é∑' })).toBeNull();
  });

  it('refuses nesting past MAX_DEPTH at the first container too deep, without recursing', () => {
    expect(findUnstorable(nested(MAX_DEPTH))).toBeNull();
    const found = findUnstorable({ params: nested(MAX_DEPTH) });
    expect(found).toEqual({
      path: ['params', ...Array(MAX_DEPTH - 1).fill(0)],
      message: DEPTH_MESSAGE,
    });
    // Far deeper than any call stack holds (what JSON.parse gives for 40 KB of brackets).
    const deep = JSON.parse(`${'['.repeat(40_000)}${']'.repeat(40_000)}`);
    expect(findUnstorable(deep)?.message).toBe(DEPTH_MESSAGE);
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
