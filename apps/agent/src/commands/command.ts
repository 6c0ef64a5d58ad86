/** Where a command writes; injected so tests capture output without spawning. */
export interface CommandIO {
  out(line: string): void;
  err(line: string): void;
  /** Whether prompts can be answered; process.stdin.isTTY when not given (tests set it). */
  stdinIsTTY?: boolean;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Returns the process exit code. Throws UsageError for bad flags, AppError for bad input. */
  run(argv: string[], io: CommandIO): Promise<number>;
}
