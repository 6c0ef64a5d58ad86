import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { Access } from '../auth/access.ts';
import type { Principal } from '../auth/principal.ts';
import type { Services } from '../services.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A JSON reply, or bytes streamed back (downloads). */
export type RestResult =
  | { status?: number; json: unknown }
  | {
      status?: number;
      stream: Readable;
      size: number;
      contentType: string;
      filename?: string;
      /** More response headers (ids of what the bytes are). */
      headers?: Record<string, string>;
    };

export interface RestInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export interface RestContext<A extends Access> extends Services {
  req: IncomingMessage;
  principal: A extends 'public' ? Principal | null : Principal;
}

/**
 * One REST operation: its path (`{name}` segments; a last `{name*}` takes the rest of the
 * path), the access it needs, zod schemas for each input part, and a thin handler over the
 * domain. `body: 'stream'` leaves the request unread for the handler to stream (uploads).
 */
export interface RestRoute<
  A extends Access = Access,
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType | 'stream' = z.ZodType | 'stream',
> {
  method: Method;
  path: string;
  access: A;
  tag: string;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  /** For the OpenAPI document: the success status and body. */
  response: { status: number; description: string; schema?: z.ZodType; binary?: boolean };
  /** Content types a `stream` body accepts, for the OpenAPI document. */
  bodyTypes?: string[];
  handle(
    ctx: RestContext<A>,
    input: RestInput<z.infer<P>, z.infer<Q>, B extends z.ZodType ? z.infer<B> : IncomingMessage>,
  ): Promise<RestResult>;
}

/** Keeps each route's types while the table holds them all. */
export function defineRoute<
  A extends Access,
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType | 'stream',
>(route: RestRoute<A, P, Q, B>): RestRoute {
  return route as unknown as RestRoute;
}
