import { z } from 'zod';
import { passwordSchema } from '../../domain/accounts/email.ts';
import { acceptInvite as accept, describeInvite } from '../../domain/accounts/members.ts';
import { openSession } from '../../domain/accounts/sessions.ts';
import { setSessionCookie } from '../../http/cookies.ts';
import { publicProcedure } from '../../trpc/init.ts';
import { attemptPassword } from './password-attempt.ts';

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
    // An invite for an existing account checks that account's password: limited as a
    // sign-in to it (the same buckets, keyed by the invite's email), whichever invite.
    const { email } = await describeInvite(ctx.db, input.code);
    const { userId, orgId } = await attemptPassword(ctx, email, () => accept(ctx.db, input));
    const session = await openSession(ctx.db, userId, orgId);
    setSessionCookie(ctx.req, ctx.res, session.secret, session.expiresAt);
    return { ok: true as const };
  });
