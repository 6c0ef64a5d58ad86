// Reading the plan files (quality-curve.json, plan.json, the cost cache): a file that is not
// JSON or not the schema is named with its path and what to do about it, never a bare
// SyntaxError with a stack.
import { existsSync, readFileSync } from 'node:fs';
import { AppError } from '@anneal/core/errors';
import type { z } from 'zod';

/** Why `path` cannot be used as `schema`, or its parsed value; null when the file is absent. */
export function parseJsonFile<T>(
  path: string,
  schema: z.ZodType<T>,
): { ok: true; value: T } | { ok: false; reason: string } | null {
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${(err as Error).message})` };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { ok: false, reason: `${issue?.path.join('.') || '(root)'}: ${issue?.message}` };
  }
  return { ok: true, value: r.data };
}

/** The file's value, null when absent; a BAD_REQUEST naming the path and `remedy` when unusable. */
export function readJsonFile<T>(path: string, schema: z.ZodType<T>, remedy: string): T | null {
  const r = parseJsonFile(path, schema);
  if (!r) return null;
  if (!r.ok) throw new AppError('BAD_REQUEST', `${path}: ${r.reason}; ${remedy}`);
  return r.value;
}
