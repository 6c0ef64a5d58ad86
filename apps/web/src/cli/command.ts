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

export { parseFlags, UsageError } from '@anneal/core/flags';
