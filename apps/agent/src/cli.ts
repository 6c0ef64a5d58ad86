import { isAppError } from '@anneal/core/errors';
import { UsageError } from './args.ts';
import { agent } from './commands/agent.ts';
import { bench } from './commands/bench.ts';
import type { Command, CommandIO } from './commands/command.ts';
import { complexity } from './commands/complexity.ts';
import { datasets } from './commands/datasets.ts';
import { deploy, generate } from './commands/deploy.ts';
import { distillCommand } from './commands/distill.ts';
import { doctor } from './commands/doctor.ts';
import { evaluate } from './commands/eval.ts';
import { importCommand } from './commands/import.ts';
import { login } from './commands/login.ts';
import { pipeline } from './commands/pipeline.ts';
import { plan } from './commands/plan.ts';
import { register } from './commands/register.ts';
import { sample } from './commands/sample.ts';
import { schedule } from './commands/schedule.ts';
import { search } from './commands/search.ts';
import { serve } from './commands/serve.ts';
import { submit } from './commands/submit.ts';
import { train } from './commands/train.ts';
import { errorEvent } from './failure.ts';

const commands: Command[] = [
  train,
  distillCommand,
  sample,
  evaluate,
  plan,
  complexity,
  schedule,
  search,
  importCommand,
  bench,
  doctor,
  agent,
  serve,
  submit,
  register,
  deploy,
  generate,
  pipeline,
  login,
  datasets,
];

const stdio: CommandIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: anneal <command> [options]

Anneal trains, distills and samples diffusion models natively on MLX.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`anneal <command> --help\` for a command's options.`;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 failure, 2 usage error. */
export async function main(argv: string[], io: CommandIO = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`anneal: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    // A job's child (`--events`) says why it failed, and whether a retry could help, on
    // stdout, where the agent reads its events.
    if (rest.includes('--events'))
      io.out(JSON.stringify(errorEvent(err, `anneal ${name}: ${(err as Error)?.message ?? err}`)));
    if (err instanceof UsageError) {
      io.err(`anneal ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    if (isAppError(err)) {
      io.err(`anneal ${name}: ${err.message}`);
      return 1;
    }
    io.err(`anneal ${name}: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}
