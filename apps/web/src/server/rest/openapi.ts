import { z } from 'zod';
import type { RestRoute } from './route.ts';

type Json = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const json = schemaOf(schema, 'input') as {
    properties?: Record<string, Json>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

/** A route's path as the document names it (`{path*}` is `{path}` in OpenAPI). */
export function documentPath(route: Pick<RestRoute, 'path'>): string {
  return `/api/v1${route.path.replace(/\{(\w+)\*\}/g, '{$1}')}`;
}

/** The OpenAPI 3.1 document, generated from the same route table the server dispatches. */
export function openApiDocument(routes: RestRoute[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const path = documentPath(route);
    const op: Json = {
      tags: [route.tag],
      summary: route.summary,
      operationId: `${route.method.toLowerCase()}${route.path.replace(/[{}*]/g, '').replace(/[/-](\w)/g, (_, c: string) => c.toUpperCase())}`,
      parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
      security: [{ bearer: [] }],
      responses: {
        [route.response.status]: {
          description: route.response.description,
          ...(route.response.binary
            ? {
                content: {
                  'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
                },
              }
            : route.response.schema
              ? {
                  content: {
                    'application/json': { schema: schemaOf(route.response.schema, 'output') },
                  },
                }
              : {}),
        },
        default: { $ref: '#/components/responses/Error' },
      },
    };
    if (route.body === 'stream')
      op.requestBody = {
        required: true,
        content: Object.fromEntries(
          (route.bodyTypes ?? ['application/octet-stream']).map((t) => [
            t,
            { schema: { type: 'string', format: 'binary' } },
          ]),
        ),
      };
    else if (route.body)
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: schemaOf(route.body, 'input') } },
      };
    paths[path] ??= {};
    (paths[path] as Record<string, Json>)[route.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Anneal control plane',
      version,
      description:
        'Automation API: projects, datasets, runs, metrics, artifacts and the model registry. Authenticate with a personal API token: `Authorization: Bearer <token>`.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      responses: {
        Error: {
          description: 'An error naming the problem',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  error: {
                    type: 'object',
                    properties: { code: { type: 'string' }, message: { type: 'string' } },
                    required: ['code', 'message'],
                  },
                },
              },
            },
          },
        },
      },
    },
  };
}
