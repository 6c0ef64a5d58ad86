import { hostname } from 'node:os';
import { resolveAnnealHome } from '@anneal/core';
import { probeHardware, resolveMemoryBudget } from '@anneal/engine';
import { z } from 'zod';
import { parseFlags } from '../args.ts';
import { AgentDaemon } from '../daemon/daemon.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal agent --server URL --token T [options]

Connects this machine to a control plane and runs the jobs it is given, each in its own
process. Metrics and events are journaled under ANNEAL_HOME/agent until the server has
them; after a lost connection the agent reconnects with backoff and replays them.

Options:
  --server URL   the control plane (default: ANNEAL_SERVER)
  --token T      an agent token (anneal-server admin create-token --kind agent; default:
                 ANNEAL_AGENT_TOKEN)
  --name NAME    how the dashboard shows this agent (default: the host name)
  --group-host H where the other agents of a data-parallel job reach this one (MLX's ring
                 backend listens there on a free port): an IPv4 address or host name of
                 this machine (default: this side of the connection to the server, which
                 suits agents on the server's network; docs/distributed.md)
  -h, --help     show this help

Environment: ANNEAL_SERVER, ANNEAL_AGENT_TOKEN, ANNEAL_HOME, ANNEAL_AGENT_MAX_BACKOFF_MS
(the longest wait between reconnects, default 30000)`;

export const agent: Command = {
  name: 'agent',
  summary: 'run jobs from a control plane (the daemon)',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        server: { type: 'string' },
        token: { type: 'string' },
        name: { type: 'string' },
        'group-host': { type: 'string' },
      },
      z.object({
        server: z.url({ error: 'is required (or set ANNEAL_SERVER)' }),
        token: z.string({ error: 'is required (or set ANNEAL_AGENT_TOKEN)' }).min(1),
        name: z.string().min(1).max(200).default(hostname()),
        'group-host': z
          .string()
          .regex(/^[A-Za-z0-9.-]+$/, 'must be an IPv4 address or a host name')
          .optional(),
      }),
      {
        server: process.env.ANNEAL_SERVER,
        token: process.env.ANNEAL_AGENT_TOKEN,
      },
    );
    const daemon = new AgentDaemon({
      server: flags.server,
      token: flags.token,
      name: flags.name,
      home: resolveAnnealHome(),
      hardware: probeHardware(),
      memoryBudgetBytes: resolveMemoryBudget().bytes,
      log: (line) => io.err(`[anneal agent] ${line}`),
      groupHost: flags['group-host'],
      backoff: { baseMs: 500, maxMs: Number(process.env.ANNEAL_AGENT_MAX_BACKOFF_MS) || 30_000 },
    });
    daemon.start();
    await new Promise<void>((resolve) => {
      const stop = () => void daemon.stop().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};
