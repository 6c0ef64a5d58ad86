import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { REST_PREFIX } from '../rest/dispatch.ts';
import { compileRoutes } from '../rest/match.ts';
import { documentPath, openApiDocument } from '../rest/openapi.ts';
import type { RestRoute } from '../rest/route.ts';
import { restRoutes } from '../rest/routes/index.ts';

/** Every error answer, as the OpenAPI document's `Error` response publishes it. */
const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).strict();

/** The path of the first field in `raw` that parsing dropped (the schema does not declare it). */
function undeclared(raw: unknown, parsed: unknown, path: (string | number)[] = []): string | null {
  if (Array.isArray(raw) && Array.isArray(parsed)) {
    for (let i = 0; i < raw.length; i++) {
      const found = undeclared(raw[i], parsed[i], [...path, i]);
      if (found) return found;
    }
    return null;
  }
  if (raw && typeof raw === 'object' && parsed && typeof parsed === 'object') {
    for (const [key, value] of Object.entries(raw)) {
      if (!(key in parsed)) return [...path, key].join('.');
      const found = undeclared(value, (parsed as Record<string, unknown>)[key], [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

type OpenApi = {
  paths: Record<
    string,
    Record<
      string,
      { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }
    >
  >;
};

/**
 * Whether `document` publishes, as the route's success response, exactly the JSON Schema of
 * the zod schema the check parses answers with; null when it does, else what differs. The
 * check parses with zod (no JSON Schema validator here), so this equality is what makes it
 * a check against the published document.
 */
export function publishedSchemaDrift(route: RestRoute, document: unknown): string | null {
  const where = `${route.method} ${route.path}`;
  const op = (document as OpenApi).paths[documentPath(route)]?.[route.method.toLowerCase()];
  const published = op?.responses[String(route.response.status)]?.content?.['application/json'];
  if (!route.response.schema)
    return published
      ? `${where}: the document publishes a schema the route does not declare`
      : null;
  if (!published?.schema) return `${where}: the document publishes no response schema`;
  const { $schema: _, ...checked } = z.toJSONSchema(route.response.schema, { io: 'output' });
  return isDeepStrictEqual(published.schema, checked)
    ? null
    : `${where}: the OpenAPI document publishes a response schema other than the one checked`;
}

/**
 * Checks a REST answer against what the OpenAPI document publishes for its route: a JSON
 * success matches the route's `response.schema` (which must be, as JSON Schema, the one the
 * document publishes) and carries no field it leaves undeclared, an error matches the Error
 * response. Returns what is wrong, or null. Paths that are no REST route (404s) are not
 * checked. `document` defaults to the one the server serves for `routes`.
 */
export function restContractViolation(
  method: string,
  url: string,
  status: number,
  contentType: string | null,
  json: unknown,
  routes: RestRoute[] = restRoutes,
  document: unknown = documentOf(routes),
): string | null {
  const path = new URL(url, 'http://localhost').pathname;
  if (!path.startsWith(`${REST_PREFIX}/`) || path === `${REST_PREFIX}/openapi.json`) return null;
  const found = matcher(routes)(method, path.slice(REST_PREFIX.length));
  if (found === null || found === 'method-not-allowed') return null;
  const { route } = found;
  const where = `${method} ${route.path} answered ${status}`;
  if (status >= 400) {
    const parsed = errorBody.safeParse(json);
    return parsed.success ? null : `${where}: not the Error shape: ${parsed.error.message}`;
  }
  if (status === 204 || route.response.binary) return null;
  if (!contentType?.startsWith('application/json')) return `${where}: not JSON (${contentType})`;
  const { schema } = route.response;
  if (!schema) return `${where}: the route declares no response schema`;
  const drift = driftOf(route, document);
  if (drift) return drift;
  const parsed = schema.safeParse(json);
  if (!parsed.success) return `${where}: ${parsed.error.message}`;
  const extra = undeclared(json, parsed.data);
  return extra ? `${where}: field ${extra} is not in the published schema` : null;
}

const matchers = new WeakMap<RestRoute[], ReturnType<typeof compileRoutes>>();
function matcher(routes: RestRoute[]) {
  let match = matchers.get(routes);
  if (!match) {
    match = compileRoutes(routes);
    matchers.set(routes, match);
  }
  return match;
}

const documents = new WeakMap<RestRoute[], unknown>();
function documentOf(routes: RestRoute[]): unknown {
  let document = documents.get(routes);
  if (!document) {
    document = openApiDocument(routes, 'contract');
    documents.set(routes, document);
  }
  return document;
}

// One comparison per route and document: the check runs on every REST answer in the suite.
const drifts = new WeakMap<object, Map<RestRoute, string | null>>();
function driftOf(route: RestRoute, document: unknown): string | null {
  const key = document as object;
  let seen = drifts.get(key);
  if (!seen) {
    seen = new Map();
    drifts.set(key, seen);
  }
  if (!seen.has(route)) seen.set(route, publishedSchemaDrift(route, document));
  return seen.get(route) ?? null;
}
