import { z } from 'zod';
import { emailSchema } from '../../domain/accounts/email.ts';
import { signIn as signInUser } from '../../domain/accounts/sessions.ts';
import { clientAddressKey } from '../../domain/accounts/sign-in-throttle.ts';
import { clientAddress } from '../../http/client-address.ts';
import { setSessionCookie } from '../../http/cookies.ts';
import { setRetryAfter } from '../../http/errors.ts';
import { publicProcedure } from '../../trpc/init.ts';

export const signIn = publicProcedure
  .input(z.object({ email: emailSchema, password: z.string().min(1, { message: 'is required' }) }))
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    const who = {
      email: input.email,
      address: clientAddressKey(clientAddress(ctx.req, ctx.config.trustedProxies)),
    };
    const session = await ctx.signIns
      .attempt(who, () => signInUser(ctx.db, input.email, input.password))
      .catch((err: unknown) => {
        // TOO_MANY_REQUESTS says when in its message; the header says it to HTTP clients.
        setRetryAfter(ctx.res, err);
        throw err;
      });
    setSessionCookie(ctx.req, ctx.res, session.secret, session.expiresAt);
    return { ok: true as const };
  });
