import { ROLES } from '@anneal/db/schema';
import { z } from 'zod';
import { emailSchema } from '../../domain/accounts/email.ts';
import { inviteMember as invite } from '../../domain/accounts/members.ts';
import { ownerProcedure } from '../../trpc/init.ts';

export const inviteMember = ownerProcedure
  .input(z.object({ email: emailSchema, role: z.enum(ROLES) }))
  .output(z.object({ code: z.string(), email: z.string(), role: z.enum(ROLES) }))
  .mutation(({ ctx, input }) => invite(ctx.db, ctx.principal, input.email, input.role));
