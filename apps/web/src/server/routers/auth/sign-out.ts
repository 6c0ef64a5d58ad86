import { z } from 'zod';
import { closeSession } from '../../domain/accounts/sessions.ts';
import { clearSessionCookie, readCookie, SESSION_COOKIE } from '../../http/cookies.ts';
import { publicProcedure } from '../../trpc/init.ts';

export const signOut = publicProcedure
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx }) => {
    const secret = readCookie(ctx.req, SESSION_COOKIE);
    if (secret) await closeSession(ctx.db, secret);
    clearSessionCookie(ctx.res);
    return { ok: true as const };
  });
