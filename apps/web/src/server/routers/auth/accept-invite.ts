import { z } from 'zod';
import { hashSecret } from '../../auth/secrets.ts';
import { passwordSchema } from '../../domain/accounts/email.ts';
import { acceptInvite as accept, describeInvite } from '../../domain/accounts/members.ts';
import { openSession } from '../../domain/accounts/sessions.ts';
import { clientAddressKey } from '../../domain/accounts/sign-in-throttle.ts';
import { clientAddress } from '../../http/client-address.ts';
import { setSessionCookie } from '../../http/cookies.ts';
import { setRetryAfter } from '../../http/errors.ts';
import { publicProcedure } from '../../trpc/init.ts';

export const getInvite = publicProcedure
  .input(z.object({ code: z.string().min(1).max(200) }))
  .output(
    z.object({
      email: z.string(),
      role: z.enum(['owner', 'editor', 'viewer']),
      orgName: z.string(),
      hasAccount: z.boolean(),
    }),
  )
  .query(({ ctx, input }) => describeInvite(ctx.db, input.code));

export const acceptInvite = publicProcedure
  .input(
    z.object({
      code: z.string().min(1).max(200),
      password: passwordSchema,
      name: z.string().trim().max(100).optional(),
    }),
  )
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    // An invite for an existing account checks that account's password: limited like
    // sign-in, per invite and per address.
    const who = {
      email: `invite:${hashSecret(input.code)}`,
      address: clientAddressKey(clientAddress(ctx.req, ctx.config.trustedProxies)),
    };
    const { userId, orgId } = await ctx.signIns
      .attempt(who, () => accept(ctx.db, input))
      .catch((err: unknown) => {
        // TOO_MANY_REQUESTS says when in its message; the header says it to HTTP clients.
        setRetryAfter(ctx.res, err);
        throw err;
      });
    const session = await openSession(ctx.db, userId, orgId);
    setSessionCookie(ctx.req, ctx.res, session.secret, session.expiresAt);
    return { ok: true as const };
  });
