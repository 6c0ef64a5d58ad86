import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { z } from 'zod';

/** Where a command writes and reads; injected so tests capture output without spawning. */
export interface CommandIO {
  out(line: string): void;
  err(line: string): void;
  readStdin(): Promise<string>;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** The exit code, or null for a command that keeps running (`start`). */
  run(argv: string[], io: CommandIO): Promise<number | null>;
}

/** A mistake in how the command was called; printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict flags (unknown ones are errors naming the flag), validated by `schema`. */
export function parseFlags<S extends z.ZodType>(
  argv: string[],
  options: Options,
  schema: S,
): z.infer<S> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  const result = schema.safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0];
    const flag = issue?.path.length ? `--${String(issue.path[0])}` : 'flags';
    throw new UsageError(`${flag}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
