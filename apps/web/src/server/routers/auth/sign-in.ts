import { z } from 'zod';
import { emailSchema } from '../../domain/accounts/email.ts';
import { signIn as signInUser } from '../../domain/accounts/sessions.ts';
import { setSessionCookie } from '../../http/cookies.ts';
import { publicProcedure } from '../../trpc/init.ts';

export const signIn = publicProcedure
  .input(z.object({ email: emailSchema, password: z.string().min(1, { message: 'is required' }) }))
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    const session = await signInUser(ctx.db, input.email, input.password);
    setSessionCookie(ctx.req, ctx.res, session.secret, session.expiresAt);
    return { ok: true as const };
  });
