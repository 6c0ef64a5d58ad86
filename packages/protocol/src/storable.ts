import { z } from 'zod';

/**
 * What PostgreSQL can store, checked at the edge (REST, tRPC and the agents' messages all
 * use these): text and jsonb refuse the NUL character and
 * unpaired surrogates (jsonb's parser also recurses, so depth is bounded), and timestamps outside years
 * 1..9999 either fail (year 0 does not exist) or do not round-trip through ISO strings.
 * Without these a request that carries one ends as a 500 from the database.
 */

export const NUL_MESSAGE = 'must not contain the NUL character (\\u0000)';
export const SURROGATE_MESSAGE =
  'must be well-formed Unicode (an unpaired UTF-16 surrogate such as \\ud800 cannot be stored)';
/** Deeper JSON is refused: nothing we store nests this far, and PostgreSQL's parser is recursive. */
export const MAX_DEPTH = 64;
export const DEPTH_MESSAGE = `must not nest arrays and objects more than ${MAX_DEPTH} deep`;

export type JsonPath = (string | number)[];

/** What cannot be stored, and where: the path of the string, key or value at fault. */
export interface Unstorable {
  path: JsonPath;
  message: string;
}

// A lone surrogate is one code point of category Cs in a `u` regex; a pair is one astral one.
const LONE_SURROGATE = /\p{Cs}/u;

function stringProblem(s: string): string | null {
  if (s.includes('\u0000')) return NUL_MESSAGE;
  if (LONE_SURROGATE.test(s)) return SURROGATE_MESSAGE;
  return null;
}

interface Frame {
  value: unknown;
  /** The key or index under the parent; null at the root. */
  key: string | number | null;
  parent: Frame | null;
  /** How many arrays and objects enclose the value. */
  depth: number;
}

function pathOf(frame: Frame): JsonPath {
  const path: JsonPath = [];
  for (let f = frame; f.parent; f = f.parent) path.push(f.key as string | number);
  return path.reverse();
}

/**
 * The first string or object key (depth first, in order) that PostgreSQL cannot store: one
 * holding a NUL or an unpaired surrogate; or the first array or object nested past
 * MAX_DEPTH. Null when the value is storable. Walks with its own stack, so no input can
 * overflow the call stack, and builds a path only for what it reports.
 */
export function findUnstorable(value: unknown): Unstorable | null {
  const stack: Frame[] = [{ value, key: null, parent: null, depth: 0 }];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    if (typeof frame.key === 'string') {
      const problem = stringProblem(frame.key);
      if (problem) return { path: pathOf(frame), message: problem };
    }
    const v = frame.value;
    if (typeof v === 'string') {
      const problem = stringProblem(v);
      if (problem) return { path: pathOf(frame), message: problem };
      continue;
    }
    if (v === null || typeof v !== 'object' || v instanceof Date) continue;
    if (frame.depth >= MAX_DEPTH) return { path: pathOf(frame), message: DEPTH_MESSAGE };
    const depth = frame.depth + 1;
    // Pushed last-first, so children are visited in order.
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ value: v[i], key: i, parent: frame, depth });
    } else {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, inner] = entries[i] as [string, unknown];
        stack.push({ value: inner, key, parent: frame, depth });
      }
    }
  }
  return null;
}

/** `field.sub: message` for what findUnstorable found (`input` when it is the whole value). */
export function describeUnstorable(found: Unstorable): string {
  return `${found.path.join('.') || 'input'}: ${found.message}`;
}

const refined = new WeakMap<z.ZodType, z.ZodType>();

/**
 * `schema`, refusing anything findUnstorable finds in what it parsed, with the field's path in the issue.
 * Memoized per schema, so the edge may wrap a route's schema on every request.
 */
export function storable<T extends z.ZodType>(schema: T): T {
  let checked = refined.get(schema);
  if (!checked) {
    checked = schema.superRefine((value, ctx) => {
      const found = findUnstorable(value);
      if (found) ctx.addIssue({ code: 'custom', path: found.path, message: found.message });
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
