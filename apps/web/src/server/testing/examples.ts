import type { z } from 'zod';

/** The parts of zod 4's schema definitions this walks. */
interface ZodDef {
  type: string;
  shape: Record<string, z.ZodType>;
  innerType: z.ZodType;
  in: z.ZodType;
  format?: string;
  entries: Record<string, unknown>;
  values: unknown[];
  element: z.ZodType;
  options: z.ZodType[];
}

/**
 * Builds a valid input for a zod schema from fixtures named by field, so a test can call
 * every procedure and route without knowing them one by one. Ids come only from
 * `fixtures` (a uuid field without one is an error that names it, never a made-up id);
 * other leaves are the first candidate the schema accepts. `used` collects the fixture
 * fields the input names, so a caller knows which of its ids a request refers to.
 */
export function exampleOf(
  schema: z.ZodType,
  fixtures: Record<string, unknown>,
  used: Set<string> = new Set(),
  field = '',
  /** What leaves are checked against: the whole of a pipe (`trim().pipe(email)`), not its input. */
  whole: z.ZodType = schema,
): unknown {
  if (field && field in fixtures) {
    used.add(field);
    return fixtures[field];
  }
  const def = (schema as unknown as { _zod: { def: ZodDef } })._zod.def;
  switch (def.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(def.shape)) {
        const childType = (child as unknown as { _zod: { def: { type: string } } })._zod.def.type;
        // Optional fields are left out unless a fixture names them: those are the body ids
        // (parentRunId, datasetVersionId, ...) every request must resolve in its own org.
        if ((childType === 'optional' || childType === 'default') && !(key in fixtures)) continue;
        out[key] = exampleOf(child, fixtures, used, key);
      }
      return out;
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return exampleOf(def.innerType, fixtures, used, field);
    case 'pipe':
      return exampleOf(def.in, fixtures, used, field, schema);
    case 'string':
      if (def.format === 'uuid')
        throw new Error(`no fixture for the id field "${field}": add one to the test's fixtures`);
      return firstValid(whole, field, [
        'm',
        'someone@example.com',
        'correct horse battery',
        'a'.repeat(64),
      ]);
    case 'number':
    case 'int':
      return firstValid(whole, field, [1, 0, 10]);
    case 'boolean':
      return true;
    case 'enum':
      return Object.values(def.entries)[0];
    case 'literal':
      return def.values[0];
    case 'array': {
      const item = exampleOf(def.element, fixtures, used, field);
      return firstValid(schema, field, [[], [item], [item, item]]);
    }
    case 'record':
      return {};
    case 'union': {
      for (const option of def.options) {
        const value = exampleOf(option, fixtures, used, field);
        if (schema.safeParse(value).success) return value;
      }
      throw new Error(`no option of the union "${field}" could be built`);
    }
    default:
      throw new Error(`cannot build an example of a ${def.type} for "${field}"`);
  }
}

function firstValid(schema: z.ZodType, field: string, candidates: unknown[]): unknown {
  const found = candidates.find((c) => schema.safeParse(c).success);
  if (found === undefined)
    throw new Error(`no candidate value fits "${field}": add a fixture for it`);
  return found;
}
