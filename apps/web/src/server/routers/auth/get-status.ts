import { organizations } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { hasAnyUser } from '../../domain/accounts/setup.ts';
import { publicProcedure } from '../../trpc/init.ts';

/** What the shell needs first: is there an owner yet, and who is signed in. */
export const getStatus = publicProcedure
  .output(
    z.object({
      needsSetup: z.boolean(),
      user: z
        .object({
          id: z.string(),
          email: z.string(),
          role: z.enum(['owner', 'editor', 'viewer']),
          orgId: z.string(),
          orgName: z.string(),
        })
        .nullable(),
    }),
  )
  .query(async ({ ctx }) => {
    const needsSetup = !(await hasAnyUser(ctx.db));
    const p = ctx.principal;
    if (!p) return { needsSetup, user: null };
    const [org] = await ctx.db.select().from(organizations).where(eq(organizations.id, p.orgId));
    return {
      needsSetup,
      user: {
        id: p.userId,
        email: p.email,
        role: p.role,
        orgId: p.orgId,
        orgName: org?.name ?? '',
      },
    };
  });
