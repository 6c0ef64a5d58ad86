import { z } from 'zod';

/**
 * What PostgreSQL can store, checked at the edge (REST, tRPC and the agents' messages all
 * use these): text and jsonb refuse the NUL character, and timestamps outside years
 * 1..9999 either fail (year 0 does not exist) or do not round-trip through ISO strings.
 * Without these a request that carries one ends as a 500 from the database.
 */

export const NUL_MESSAGE = 'must not contain the NUL character (\\u0000)';

/** The path of the first string (or object key) holding a NUL in a JSON-like value; null when none. */
export function findNul(
  value: unknown,
  path: (string | number)[] = [],
): (string | number)[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNul(value[i], [...path, i]);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    for (const [key, inner] of Object.entries(value)) {
      if (key.includes('\u0000')) return [...path, key];
      const found = findNul(inner, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

const refined = new WeakMap<z.ZodType, z.ZodType>();

/**
 * `schema`, refusing a NUL anywhere in what it parsed, with the field's path in the issue.
 * Memoized per schema, so the edge may wrap a route's schema on every request.
 */
export function storable<T extends z.ZodType>(schema: T): T {
  let checked = refined.get(schema);
  if (!checked) {
    checked = schema.superRefine((value, ctx) => {
      const path = findNul(value);
      if (path) ctx.addIssue({ code: 'custom', path, message: NUL_MESSAGE });
    });
    refined.set(schema, checked);
  }
  return checked as T;
}

/** PostgreSQL `integer`'s largest value: sequence numbers and versions are stored in one. */
export const INT4_MAX = 2 ** 31 - 1;

export const MIN_TIME = Date.parse('0001-01-01T00:00:00Z');
export const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/** An ISO 8601 date-time (with offset) that PostgreSQL stores and gives back unchanged. */
export const timestampSchema = z.iso.datetime({ offset: true }).refine(
  (s) => {
    const t = Date.parse(s);
    return t >= MIN_TIME && t <= MAX_TIME;
  },
  { message: 'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z' },
);
