import { AppError } from '@anneal/core';
import { findNul, NUL_MESSAGE } from '@anneal/protocol';
import { initTRPC } from '@trpc/server';
import { type Access, authorize } from '../auth/access.ts';
import type { Principal } from '../auth/principal.ts';
import { asAppError, toTRPCError } from '../http/errors.ts';
import type { TrpcContext } from './context.ts';

const t = initTRPC.context<TrpcContext>().create({
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

/** Domain errors (and zod input errors) become tRPC errors with the field in the message. */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) throw toTRPCError(result.error.cause ?? result.error);
  return result;
});

/**
 * What PostgreSQL cannot store (a NUL in any string or key) is refused before any procedure
 * runs, naming the field, as REST and the agents' gateway do with the same check.
 */
const storableInput = t.middleware(async ({ getRawInput, next }) => {
  const path = findNul(await getRawInput());
  if (path) throw new AppError('BAD_REQUEST', `${path.join('.') || 'input'}: ${NUL_MESSAGE}`);
  return next();
});

/** Every procedure declares its access; `authorize` is the one place it is checked. */
function withAccess<A extends Access>(access: A) {
  return t.procedure
    .use(mapErrors)
    .use(storableInput)
    .use(({ ctx, next }) => {
      const principal = authorize(ctx.principal, access);
      return next({
        ctx: { ...ctx, principal: principal as A extends 'public' ? Principal | null : Principal },
      });
    });
}

export const publicProcedure = withAccess('public');
export const viewerProcedure = withAccess('viewer');
export const editorProcedure = withAccess('editor');
export const ownerProcedure = withAccess('owner');
