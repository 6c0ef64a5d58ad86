import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { z } from 'zod';

/** A mistake in how a command was called; printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses flags strictly (unknown flags and missing values are errors naming the flag), then
 * validates them with `schema` so every error names the flag it is about. Shared by the
 * `anneal` and `anneal-server` commands.
 */
export function parseFlags<S extends z.ZodType>(
  argv: string[],
  options: Options,
  schema: S,
  /** Values used where a flag is absent (environment variables, stored config). */
  defaults: Record<string, unknown> = {},
): z.infer<S> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  const present = Object.fromEntries(Object.entries(defaults).filter(([, v]) => v !== undefined));
  const result = schema.safeParse({ ...present, ...values });
  if (!result.success) {
    const issue = result.error.issues[0];
    const flag = issue?.path.length ? `--${String(issue.path[0])}` : 'flags';
    throw new UsageError(`${flag}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
