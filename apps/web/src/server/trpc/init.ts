import { AppError } from '@anneal/core';
import { describeUnstorable, findUnstorable } from '@anneal/protocol';
import { initTRPC } from '@trpc/server';
import { type Access, authorize, authorizeAgent } from '../auth/access.ts';
import type { Principal } from '../auth/principal.ts';
import { asAppError, setRetryAfter, toTRPCError } from '../http/errors.ts';
import type { TrpcContext } from './context.ts';

/** Every procedure carries its access in its meta, where tests enumerating the router read it. */
export interface ProcedureMeta {
  access: Access;
}

const t = initTRPC
  .context<TrpcContext>()
  .meta<ProcedureMeta>()
  .create({
    errorFormatter({ shape, error, ctx }) {
      const app = asAppError(error.cause ?? error, { jsonLimit: ctx?.config.jsonLimit });
      return {
        ...shape,
        message: app.message,
        data: { ...shape.data, appCode: app.code, stack: undefined },
      };
    },
  });

export const router = t.router;

/**
 * Domain errors (and zod input errors) become tRPC errors with the field in the message; a
 * RATE_LIMITED one also says when to retry in Retry-After, as REST does (rest/dispatch.ts).
 */
const mapErrors = t.middleware(async ({ ctx, next }) => {
  const result = await next();
  if (result.ok) return result;
  const err = toTRPCError(result.error.cause ?? result.error);
  setRetryAfter(ctx.res, err.cause);
  throw err;
});

/**
 * What PostgreSQL cannot store (a NUL or an unpaired surrogate in any string or key, or
 * nesting past MAX_DEPTH) is refused before any procedure
 * runs, naming the field, as REST and the agents' gateway do with the same check.
 */
const storableInput = t.middleware(async ({ getRawInput, next }) => {
  const found = findUnstorable(await getRawInput());
  if (found) throw new AppError('BAD_REQUEST', describeUnstorable(found));
  return next();
});

/**
 * A procedure builder with its access declared; the same layer as REST (auth/access.ts)
 * checks it before the input is parsed. Agent grants name an id field of the input, read
 * here raw and checked as a uuid by the layer.
 */
export function procedure<A extends Access>(access: A) {
  return t.procedure
    .meta({ access })
    .use(mapErrors)
    .use(async ({ ctx, next, getRawInput }) => {
      const principal = authorize(ctx.principal, access);
      if (principal?.via === 'agent')
        await authorizeAgent(ctx.db, principal, access, await getRawInput());
      return next({
        ctx: { ...ctx, principal: principal as A extends 'public' ? Principal | null : Principal },
      });
    })
    .use(storableInput);
}

// The browser's API: people and API tokens by role; agent tokens are refused unless a
// procedure grants them a leased resource through `procedure(...)`.
export const publicProcedure = procedure('public');
export const viewerProcedure = procedure({ role: 'viewer', agent: 'none' });
export const editorProcedure = procedure({ role: 'editor', agent: 'none' });
export const ownerProcedure = procedure({ role: 'owner', agent: 'none' });
