import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { authenticate } from './src/server/auth/authenticate.ts';
import { toTRPCError } from './src/server/http/errors.ts';
import { type UpgradeHandler, UpgradeRoutes } from './src/server/http/upgrades.ts';
import {
  MLFLOW_PREFIX,
  MLFLOW_V3_PREFIX,
  mlflowDialect,
  mlflowV3Dialect,
} from './src/server/mlflow/errors.ts';
import { mlflowRoutes } from './src/server/mlflow/routes/index.ts';
import { createRestHandler, REST_PREFIX } from './src/server/rest/dispatch.ts';
import { appRouter } from './src/server/routers/index.ts';
import type { Services } from './src/server/services.ts';

/** What Next contributes: pages and its own WebSocket upgrades. Tests run without it. */
export interface PagesHandler {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  upgrade?: UpgradeHandler;
}

export interface AnnealServer {
  server: Server;
  upgrades: UpgradeRoutes;
  url: string;
  close(): Promise<void>;
}

/**
 * One port serves everything: tRPC at /api/trpc, REST at /api/v1, MLflow's API at /api/2.0, WebSocket upgrades by
 * path (`/agent` for the agents' gateway), and every other request goes to Next.
 */
export async function createAnnealServer(
  services: Services,
  options: { port: number; host?: string; pages?: PagesHandler | null },
): Promise<AnnealServer> {
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/api/trpc/',
    maxBodySize: services.config.jsonLimit,
    createContext: async ({ req, res }) => {
      try {
        return { ...services, req, res, principal: await authenticate(services.db, req) };
      } catch (err) {
        throw toTRPCError(err);
      }
    },
    onError: ({ error, path }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR')
        console.error('[anneal-server] tRPC', path, error.cause ?? error);
    },
  });
  const rest = createRestHandler(services);
  // MLflow's tracking, registry and artifact-proxy API, as its own clients call it (docs/interop.md).
  const mlflow = createRestHandler(services, mlflowRoutes, mlflowDialect);
  const mlflowV3 = createRestHandler(services, [], mlflowV3Dialect);
  const upgrades = new UpgradeRoutes();
  if (services.agents) upgrades.register('/agent', services.agents.upgrade);

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/api/trpc/')) return void trpc(req, res);
    if (path === REST_PREFIX || path.startsWith(`${REST_PREFIX}/`)) return void rest(req, res);
    if (
      path.startsWith(`${MLFLOW_PREFIX}/mlflow/`) ||
      path.startsWith(`${MLFLOW_PREFIX}/mlflow-artifacts/`)
    )
      return void mlflow(req, res);
    if (path.startsWith(`${MLFLOW_V3_PREFIX}/mlflow/`)) return void mlflowV3(req, res);
    if (options.pages) {
      options.pages.handle(req, res).catch((err) => {
        console.error('[anneal-server] page', req.url, err);
        if (!res.headersSent) res.writeHead(500).end('internal error');
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    upgrades.handle(req, socket, head, options.pages?.upgrade),
  );
  // Server-sent events stay open; the default request timeout would cut them.
  server.requestTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    upgrades,
    url: `http://localhost:${port}`,
    close: async () => {
      services.pipelines?.close();
      await services.agents?.close();
      await services.mirror?.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
