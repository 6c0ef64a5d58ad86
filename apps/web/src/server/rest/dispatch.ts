import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@anneal/core';
import { describeUnstorable, findUnstorable } from '@anneal/protocol';
import type { z } from 'zod';
import { authorize, authorizeAgent } from '../auth/access.ts';
import { authenticate } from '../auth/authenticate.ts';
import { readJsonBody } from '../http/body.ts';
import { asAppError, describeZodError, httpStatusOf, setRetryAfter } from '../http/errors.ts';
import type { Services } from '../services.ts';
import { compileRoutes } from './match.ts';
import { openApiDocument } from './openapi.ts';
import type { RestContext, RestRoute } from './route.ts';
import { restRoutes } from './routes/index.ts';

export const REST_PREFIX = '/api/v1';

/**
 * One part of the request through its schema. What PostgreSQL cannot store is refused first,
 * on the raw value as tRPC does (trpc/init.ts), so no schema walks absurdly deep input.
 */
function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, part: string): T {
  if (!schema) return value as T;
  const found = findUnstorable(value);
  if (found) throw new AppError('BAD_REQUEST', `${part}.${describeUnstorable(found)}`);
  const result = schema.safeParse(value);
  if (!result.success)
    throw new AppError('BAD_REQUEST', `${part}.${describeZodError(result.error)}`);
  return result.data;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** How an API other than /api/v1 (MLflow's) differs: its prefix and its error answers. */
export interface RestDialect {
  prefix: string;
  /** Serves `<prefix>/openapi.json`. */
  openapi: boolean;
  /** The status and body of an error answer. */
  error(err: AppError, kind: 'no-route' | 'other'): { status: number; body: unknown };
}

const ANNEAL_DIALECT: RestDialect = {
  prefix: REST_PREFIX,
  openapi: true,
  error: (app) => ({
    status: httpStatusOf(app),
    body: { error: { code: app.code, message: app.message } },
  }),
};

/**
 * The REST API: match, authenticate, authorize (the layer tRPC uses too), validate, handle.
 * HEAD is answered as GET with its headers only (a streamed body is never read), for
 * clients that probe (DVC).
 */
export function createRestHandler(
  services: Services,
  routes: RestRoute[] = restRoutes,
  dialect: RestDialect = ANNEAL_DIALECT,
) {
  const match = compileRoutes(routes);
  const openapi = dialect.openapi ? JSON.stringify(openApiDocument(routes, '0.1.0')) : null;
  return async function handleRest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let noRoute = false;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname.slice(dialect.prefix.length) || '/';
      if (openapi && path === '/openapi.json' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(openapi);
        return;
      }
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const found = match(method, path);
      noRoute = found === null || found === 'method-not-allowed';
      if (found === null)
        throw new AppError('NOT_FOUND', `no API route ${req.method} ${url.pathname}`);
      if (found === 'method-not-allowed')
        throw new AppError('BAD_REQUEST', `${req.method} is not supported on ${url.pathname}`);
      const { route, params } = found;
      // The one authorization layer (auth/access.ts), shared with tRPC: role and token kind
      // before any input is read, then an agent token's lease on the id its grant names.
      const principal = authorize(await authenticate(services.db, req), route.access);
      const pathParams = parse(route.params, params, 'path');
      await authorizeAgent(services.db, principal, route.access, pathParams);
      const input = {
        params: pathParams,
        query: parse(route.query, Object.fromEntries(url.searchParams), 'query'),
        body:
          route.body === 'stream'
            ? req
            : route.body
              ? parse(route.body, await readJsonBody(req, services.config.jsonLimit), 'body')
              : undefined,
      };
      const ctx: RestContext<typeof route.access> = {
        ...services,
        req,
        principal: principal as never,
      };
      const result = await route.handle(ctx, input as never);
      if ('stream' in result) {
        const headers: Record<string, string | number> = {
          ...result.headers,
          'content-type': result.contentType,
          'content-length': result.size,
          'x-content-type-options': 'nosniff',
          // Uploaded bytes are served from our origin: a sandbox keeps an HTML or SVG
          // artifact opened in a tab from running script with the viewer's session.
          'content-security-policy':
            "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
        };
        if (result.filename)
          headers['content-disposition'] =
            `inline; filename*=UTF-8''${encodeURIComponent(result.filename)}`;
        res.writeHead(result.status ?? 200, headers);
        if (req.method === 'HEAD') {
          // Headers only: a HEAD probe (DVC asks for every object) must not read a blob.
          result.stream.destroy();
          res.end();
          return;
        }
        await pipeline(result.stream, res);
        return;
      }
      sendJson(res, result.status ?? 200, result.json);
    } catch (err) {
      const app = asAppError(err);
      if (app.code === 'INTERNAL') console.error('[anneal-server] REST', req.method, req.url, err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // An unread upload would otherwise keep the socket busy; close it after replying.
      if (!req.complete) res.setHeader('connection', 'close');
      setRetryAfter(res, app);
      const reply = dialect.error(app, noRoute ? 'no-route' : 'other');
      sendJson(res, reply.status, reply.body);
      if (!req.complete) req.resume();
    }
  };
}
