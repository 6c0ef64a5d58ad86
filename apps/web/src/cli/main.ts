import { isAppError } from '@anneal/core/errors';
import { type Command, type CommandIO, UsageError } from './command.ts';
import { admin } from './commands/admin.ts';
import { build } from './commands/build.ts';
import { migrate } from './commands/migrate.ts';
import { start } from './commands/start.ts';

const commands: Command[] = [start, build, migrate, admin];

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new UsageError('--password-stdin: pipe the password in, e.g. `echo "$PW" | ...`');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const stdio: CommandIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readStdin,
};

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: anneal-server <command> [options]

The Anneal control plane: dashboard, APIs, artifact store, and its administration.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`anneal-server <command> --help\` for a command's options.`;
}

/** Runs the CLI: an exit code (0 ok, 1 failure, 2 usage error), or null while serving. */
export async function main(argv: string[], io: CommandIO = stdio): Promise<number | null> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`anneal-server: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (command !== admin && (rest.includes('--help') || rest.includes('-h'))) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`anneal-server ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    if (isAppError(err)) {
      io.err(`anneal-server ${name}: ${err.message}`);
      return 1;
    }
    io.err(`anneal-server ${name}: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}
