import { hostname } from 'node:os';
import { AppError } from '@anneal/core/errors';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { api, writeLogin } from '../client/config.ts';
import { askHidden, askLine, readStdin } from '../client/prompt.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal login --server URL [--email E] [--password-stdin | --token T]

Signs in to a control plane and stores the server and a new API token for \`anneal submit\`
(in ANNEAL_CONFIG, else ~/.config/anneal/config.json, readable only by you). The email and
password are exchanged once for a token named "anneal login on <this host>"; the password
is not stored. Revoke the token in the dashboard under Settings.

Options:
  --server URL       the control plane (required)
  --email E          the account's email (default: asked)
  --password-stdin   read the password from stdin (for scripts) instead of asking without echo
  --token T          store an existing API token instead of signing in
  -h, --help         show this help`;

const flagsSchema = z
  .object({
    server: z.url({ error: 'is required' }),
    email: z.string().min(1).optional(),
    'password-stdin': z.boolean().default(false),
    token: z.string().min(1).optional(),
  })
  .refine((f) => !(f.token && (f.email || f['password-stdin'])), {
    message: 'give either --token or --email/--password-stdin, not both',
    path: ['token'],
  });

/** What to pass when stdin is not a terminal, for what is missing. */
function noTerminal(hasEmail: boolean, passwordFromStdin: boolean): string {
  const ask = hasEmail
    ? 'the password'
    : passwordFromStdin
      ? 'the email'
      : 'the email and password';
  const pass = passwordFromStdin
    ? 'pass --email E (the password is read from stdin)'
    : 'pass --email E --password-stdin with the password on stdin';
  return `stdin is not a terminal, so ${ask} cannot be asked for: ${pass}, or --token T with an API token from Settings`;
}

export const login: Command = {
  name: 'login',
  summary: 'sign in to a control plane and store an API token for `anneal submit`',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        server: { type: 'string' },
        email: { type: 'string' },
        'password-stdin': { type: 'boolean' },
        token: { type: 'string' },
      },
      flagsSchema,
    );
    const server = flags.server.replace(/\/$/, '');
    let token = flags.token;
    // Prompts need a terminal: without one (a script, CI, a pipe) say what to pass instead
    // of waiting on a closed stdin or failing inside the prompt.
    const tty = io.stdinIsTTY ?? Boolean(process.stdin.isTTY);
    if (!token && !tty && !(flags.email && flags['password-stdin']))
      throw new AppError('BAD_REQUEST', noTerminal(Boolean(flags.email), flags['password-stdin']));
    if (!token) {
      const email = flags.email ?? (await askLine('Email: '));
      if (!email) throw new UsageError('--email: is required');
      const password = flags['password-stdin'] ? await readStdin() : await askHidden('Password: ');
      if (!password) throw new UsageError('--password-stdin: the password is empty');
      const res = await fetch(`${server}/api/v1/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password, name: `anneal login on ${hostname()}` }),
      }).catch((err: Error) => {
        throw new AppError('BAD_REQUEST', `cannot reach ${server}: ${err.cause ?? err.message}`);
      });
      const body = (await res.json().catch(() => null)) as {
        token?: string;
        error?: { message?: string };
      } | null;
      if (!res.ok || !body?.token)
        throw new AppError(
          res.status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST',
          `sign-in at ${server} failed: ${body?.error?.message ?? `HTTP ${res.status}`}`,
        );
      token = body.token;
    }
    const client = { server, token };
    // A token minted just now is saved before anything else can fail, so none is left on the
    // server that nobody holds; a given --token is checked first, so a bad one is not saved.
    const minted = flags.token === undefined;
    let path = minted ? writeLogin(client) : '';
    const { projects } = await api<{ projects: unknown[] }>(client, 'GET', '/projects');
    if (!minted) path = writeLogin(client);
    io.out(`logged in to ${server} (${projects.length} projects visible); saved to ${path}`);
    return 0;
  },
};
