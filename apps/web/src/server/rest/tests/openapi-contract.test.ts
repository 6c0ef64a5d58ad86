import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { publishedSchemaDrift, restContractViolation } from '../../testing/rest-contract.ts';
import { documentPath, openApiDocument } from '../openapi.ts';
import { defineRoute } from '../route.ts';
import { restRoutes } from '../routes/index.ts';

type Operation = { responses: Record<string, { content?: Record<string, unknown> }> };

describe('the OpenAPI document', () => {
  it('publishes a response schema for every route that answers JSON', () => {
    const doc = openApiDocument(restRoutes, '0') as {
      paths: Record<string, Record<string, Operation>>;
    };
    const missing: string[] = [];
    for (const route of restRoutes) {
      if (route.response.binary || route.response.status === 204) continue;
      const path = `/api/v1${route.path.replace(/\{(\w+)\*\}/g, '{$1}')}`;
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      const content = op?.responses[route.response.status]?.content;
      if (!route.response.schema || !content?.['application/json'])
        missing.push(`${route.method} ${route.path}`);
    }
    expect(missing).toEqual([]);
  });

  it('publishes for every route exactly the schema the contract check parses answers with', () => {
    // The served document (createRestHandler builds it the same way) against each route's
    // zod response schema as JSON Schema: the two cannot drift apart unnoticed.
    const doc = openApiDocument(restRoutes, '0.1.0');
    const drifts = restRoutes.map((route) => publishedSchemaDrift(route, doc)).filter(Boolean);
    expect(drifts).toEqual([]);
  });
});

describe('the REST contract check every REST test goes through', () => {
  const routes = [
    defineRoute({
      method: 'GET',
      path: '/things/{id}',
      access: { role: 'viewer', agent: 'none' },
      tag: 't',
      summary: 't',
      response: { status: 200, description: 't', schema: z.object({ id: z.string() }) },
      handle: async () => ({ json: {} }),
    }),
    defineRoute({
      method: 'GET',
      path: '/bare',
      access: { role: 'viewer', agent: 'none' },
      tag: 't',
      summary: 't',
      response: { status: 200, description: 't' },
      handle: async () => ({ json: {} }),
    }),
  ];
  const check = (url: string, status: number, json: unknown) =>
    restContractViolation('GET', url, status, 'application/json; charset=utf-8', json, routes);

  it('passes what the schema publishes', () => {
    expect(check('/api/v1/things/1', 200, { id: '1' })).toBeNull();
    expect(
      check('/api/v1/things/1', 404, { error: { code: 'NOT_FOUND', message: 'no' } }),
    ).toBeNull();
    expect(check('/api/v1/nowhere', 404, 'not found')).toBeNull();
  });

  it('names a wrong type, an undeclared field, a missing schema and a malformed error', () => {
    expect(check('/api/v1/things/1', 200, { id: 1 })).toMatch(/GET \/things\/\{id\} answered 200/);
    expect(check('/api/v1/things/1', 200, { id: '1', secret: 'x' })).toMatch(
      /field secret is not in the published schema/,
    );
    expect(check('/api/v1/bare', 200, {})).toMatch(/declares no response schema/);
    expect(check('/api/v1/things/1', 500, { message: 'boom' })).toMatch(/not the Error shape/);
  });

  it('names a route whose published schema is not the one it checks', () => {
    const doc = openApiDocument(routes, '0') as {
      paths: Record<string, Record<string, Operation>>;
    };
    const published = doc.paths[documentPath({ path: '/things/{id}' })]?.get?.responses['200']
      ?.content?.['application/json'] as { schema: { properties: Record<string, unknown> } };
    published.schema.properties.id = { type: 'integer' };
    expect(
      restContractViolation(
        'GET',
        '/api/v1/things/1',
        200,
        'application/json',
        { id: '1' },
        routes,
        doc,
      ),
    ).toMatch(
      /GET \/things\/\{id\}: the OpenAPI document publishes a response schema other than the one checked/,
    );
  });
});
