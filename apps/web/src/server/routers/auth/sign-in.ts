import { z } from 'zod';
import { emailSchema } from '../../domain/accounts/email.ts';
import { checkPassword, openSession } from '../../domain/accounts/sessions.ts';
import { setSessionCookie } from '../../http/cookies.ts';
import { publicProcedure } from '../../trpc/init.ts';
import { attemptPassword } from './password-attempt.ts';

export const signIn = publicProcedure
  .input(z.object({ email: emailSchema, password: z.string().min(1, { message: 'is required' }) }))
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    const { userId, orgId } = await attemptPassword(ctx, input.email, () =>
      checkPassword(ctx.db, input.email, input.password),
    );
    const session = await openSession(ctx.db, userId, orgId);
    setSessionCookie(ctx.req, ctx.res, session.secret, session.expiresAt);
    return { ok: true as const };
  });
