import type { Role } from '@anneal/db/schema';
import { startTestDatabase, type TestDatabase } from '@anneal/db/testing';
import { type AnnealServer, createAnnealServer } from '../../../server.ts';
import { loadConfig, type ServerConfig } from '../config.ts';
import { createUserInOrg } from '../domain/accounts/setup.ts';
import { createToken } from '../domain/accounts/tokens.ts';
import type { Services } from '../services.ts';
import { createServices } from '../services-factory.ts';
import { restContractViolation } from './rest-contract.ts';

/** A real server (API only, no pages) on a random port over a real, migrated PostgreSQL. */
export interface Harness {
  url: string;
  services: Services;
  config: ServerConfig;
  server: AnnealServer;
  stop(): Promise<void>;
  /** Stops the server (HTTP, gateway, pool) and starts a new one on the same port and database. */
  restart(downMs?: number): Promise<void>;
  /** A user of `org` with `role`, and an API token for them. */
  user(
    org: string,
    role: Role,
    email?: string,
  ): Promise<{ token: string; userId: string; orgId: string; email: string }>;
  /**
   * A REST call; throws when the answer is not what the OpenAPI document publishes. A plain
   * value is sent as JSON; a string, bytes, a Blob or a FormData as they are.
   */
  api(
    token: string,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: any }>;
}

let counter = 0;

export async function startHarness(
  env: Record<string, string> = {},
  options: Parameters<typeof createServices>[2] = {},
): Promise<Harness> {
  const database: TestDatabase = await startTestDatabase();
  const config = loadConfig({ ANNEAL_HOME: database.home, PORT: '0', ...env });
  let services = createServices(config, database.url, options);
  let server = await createAnnealServer(services, { port: 0, host: '127.0.0.1', pages: null });
  const port = Number(new URL(server.url).port);
  const harness: Harness = {
    url: server.url,
    services,
    config,
    server,
    async stop() {
      await server.close();
      await services.handle.close();
      await database.stop();
    },
    async restart(downMs = 0) {
      await server.close();
      await services.handle.close();
      await new Promise((r) => setTimeout(r, downMs));
      services = createServices(config, database.url, options);
      server = await createAnnealServer(services, { port, host: '127.0.0.1', pages: null });
      harness.services = services;
      harness.server = server;
    },
    async user(org, role, email = `u${++counter}-${Date.now()}@example.com`) {
      const { user, org: o } = await createUserInOrg(services.db, {
        email,
        password: 'correct horse battery',
        orgName: org,
        role,
      });
      const t = await createToken(services.db, { userId: user.id, orgId: o.id }, 'api', 'test');
      return { token: t.token, userId: user.id, orgId: o.id, email };
    },
    async api(token, method, path, body, headers = {}) {
      // Strings, bytes, blobs and forms go as they are (a form sets its own multipart type).
      const raw =
        typeof body === 'string' ||
        body instanceof Uint8Array ||
        body instanceof Blob ||
        body instanceof FormData;
      const res = await fetch(`${harness.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && !raw ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: (body === undefined ? undefined : raw ? body : JSON.stringify(body)) as
          | BodyInit
          | undefined,
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {}
      // Every REST answer a test sees is held to what the OpenAPI document publishes.
      const violation = restContractViolation(
        method,
        path,
        res.status,
        res.headers.get('content-type'),
        json,
      );
      if (violation) throw new Error(`REST contract: ${violation}`);
      return { status: res.status, json };
    },
  };
  return harness;
}
