import { AppError } from '@anneal/core';
import { z } from 'zod';
import { createAnnealServer, type PagesHandler } from '../../../server.ts';
import { loadConfig } from '../../server/config.ts';
import { startLocalHome } from '../../server/domain/agents/local-agent.ts';
import { createServices } from '../../server/services-factory.ts';
import { type Command, parseFlags } from '../command.ts';
import { openMigratedDatabase } from '../database.ts';
import { ensureBuild, webDir } from '../next-build.ts';

const usage = `Usage: anneal-server start [--port N] [--dev] [--no-agent]

Serves the dashboard, tRPC, the REST API and artifacts on one port. Builds the dashboard
first when no production build exists (or its sources changed), starts an embedded
PostgreSQL under ANNEAL_HOME unless DATABASE_URL is set, and applies migrations.

Options:
  --port N   port to listen on (default: PORT, else 3000)
  --dev      Next.js development mode (hot reload) instead of the production build
  --no-agent do not start the local agent (by default one runs beside the server,
             enrolled with a token kept under ANNEAL_HOME once the owner account exists)

The URL served is recorded in ANNEAL_HOME/server.json (removed again on SIGINT/SIGTERM),
and once the owner account exists an API token for the local \`anneal\` CLI is kept in
ANNEAL_HOME/secrets/local-cli-token, agent or not: \`anneal submit\` on this machine
finds the server with no flags.

Environment: PORT, HOST, ANNEAL_HOME, DATABASE_URL, ANNEAL_JSON_LIMIT, ANNEAL_UPLOAD_LIMIT,
ANNEAL_LEASE_MS, ANNEAL_LOCAL_AGENT=0 (same as --no-agent)`;

async function loadPages(
  dev: boolean,
  port: number,
): Promise<PagesHandler & { close(): Promise<void> }> {
  // next is CommonJS: under NodeNext its default export arrives as `default.default`.
  const mod = (await import('next')) as unknown as {
    default: typeof import('next/dist/server/next.js').default;
  };
  const app = mod.default({ dev, dir: webDir, port, customServer: true });
  await app.prepare();
  return {
    handle: app.getRequestHandler(),
    upgrade: app.getUpgradeHandler(),
    close: () => app.close(),
  };
}

export const start: Command = {
  name: 'start',
  summary: 'serve the control plane (builds and migrates first when needed)',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      { port: { type: 'string' }, dev: { type: 'boolean' }, 'no-agent': { type: 'boolean' } },
      z.object({
        port: z.coerce.number().int().min(0).max(65535).optional(),
        dev: z.boolean().optional(),
        'no-agent': z.boolean().optional(),
      }),
    );
    const config = loadConfig(
      flags.port === undefined ? process.env : { ...process.env, PORT: String(flags.port) },
    );
    const dev = flags.dev ?? false;
    if (!dev) await ensureBuild(io.out);
    const database = await openMigratedDatabase(io.out);
    const services = createServices(config, database.url);
    const pages = await loadPages(dev, config.port);
    let server: Awaited<ReturnType<typeof createAnnealServer>>;
    try {
      server = await createAnnealServer(services, { port: config.port, host: config.host, pages });
    } catch (err) {
      // Leave nothing running behind a failed start (the embedded PostgreSQL above all).
      await pages.close().catch(() => {});
      await services.handle.close().catch(() => {});
      await database.stop().catch(() => {});
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
        throw new AppError('CONFLICT', `port ${config.port} is in use; pass --port N or set PORT`);
      throw err;
    }
    io.out(
      `anneal-server: serving http://localhost:${server.url.split(':').pop()} (ANNEAL_HOME=${config.annealHome})`,
    );

    const local = startLocalHome(services.db, {
      home: config.annealHome,
      url: `http://127.0.0.1:${server.url.split(':').pop()}`,
      agent: !(flags['no-agent'] || process.env.ANNEAL_LOCAL_AGENT === '0'),
      log: (line) => io.out(`anneal-server: ${line}`),
    });

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      io.out(`anneal-server: ${signal}, shutting down`);
      // First, so a CLI never finds the URL of a server that is going away.
      local.stop();
      await server.close().catch(() => {});
      await pages.close().catch(() => {});
      await services.handle.close().catch(() => {});
      await database.stop().catch(() => {});
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
    return null;
  },
};
