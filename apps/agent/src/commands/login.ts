import { createInterface } from 'node:readline/promises';
import { z } from 'zod';
import { parseFlags } from '../args.ts';
import { api, writeLogin } from '../client/config.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal login --server URL [--token T]

Checks an API token against the server and stores both for \`anneal submit\` (in
ANNEAL_CONFIG, else ~/.config/anneal/config.json, readable only by you). Without --token
the token is read from stdin. Create a token in the dashboard under Settings.`;

export const login: Command = {
  name: 'login',
  summary: 'store a server and API token for `anneal submit`',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      { server: { type: 'string' }, token: { type: 'string' } },
      z.object({ server: z.url({ error: 'is required' }), token: z.string().min(1).optional() }),
    );
    let token = flags.token;
    if (!token) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      token = (await rl.question('API token: ')).trim();
      rl.close();
    }
    const client = { server: flags.server, token };
    const { projects } = await api<{ projects: unknown[] }>(client, 'GET', '/projects');
    const path = writeLogin(client);
    io.out(`logged in to ${flags.server} (${projects.length} projects visible); saved to ${path}`);
    return 0;
  },
};
