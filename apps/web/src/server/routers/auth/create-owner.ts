import { z } from 'zod';
import { emailSchema, orgNameSchema, passwordSchema } from '../../domain/accounts/email.ts';
import { openSession } from '../../domain/accounts/sessions.ts';
import { createFirstOwner } from '../../domain/accounts/setup.ts';
import { setDeviceCookie, setSessionCookie } from '../../http/cookies.ts';
import { publicProcedure } from '../../trpc/init.ts';

/** The first visit's sign-up; refused once any account exists. */
export const createOwner = publicProcedure
  .input(
    z.object({
      email: emailSchema,
      name: z.string().trim().max(100).optional(),
      password: passwordSchema,
      orgName: orgNameSchema,
    }),
  )
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    const { user, org } = await createFirstOwner(ctx.db, input);
    const session = await openSession(ctx.db, user.id, org.id);
    setSessionCookie(ctx.req, ctx.res, session.secret, session.expiresAt);
    setDeviceCookie(ctx.req, ctx.res, ctx.devices.issue(user.id));
    return { ok: true as const };
  });
