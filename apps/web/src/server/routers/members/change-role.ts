import { ROLES } from '@anneal/db/schema';
import { z } from 'zod';
import { changeRole as change, removeMember as remove } from '../../domain/accounts/members.ts';
import { ownerProcedure } from '../../trpc/init.ts';

export const changeRole = ownerProcedure
  .input(z.object({ userId: z.uuid(), role: z.enum(ROLES) }))
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    await change(ctx.db, ctx.principal, input.userId, input.role);
    return { ok: true as const };
  });

export const removeMember = ownerProcedure
  .input(z.object({ userId: z.uuid() }))
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    await remove(ctx.db, ctx.principal, input.userId);
    return { ok: true as const };
  });
