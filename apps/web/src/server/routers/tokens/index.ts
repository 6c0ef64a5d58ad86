import { z } from 'zod';
import { createToken, listTokens, revokeToken } from '../../domain/accounts/tokens.ts';
import { editorProcedure, ownerProcedure, router, viewerProcedure } from '../../trpc/init.ts';
import { tokenRow } from '../outputs.ts';

// Tokens act for their creator, so creating one needs at least editor (viewers read in the
// browser); agent tokens enrol machines for the whole organization, so owners only.
export const tokensRouter = router({
  list: viewerProcedure
    .output(z.array(tokenRow))
    .query(({ ctx }) => listTokens(ctx.db, ctx.principal.orgId, ctx.principal.userId)),
  createApi: editorProcedure
    .input(z.object({ name: z.string().trim().min(1, { message: 'is required' }).max(100) }))
    .output(z.object({ id: z.string(), token: z.string(), prefix: z.string() }))
    .mutation(({ ctx, input }) => createToken(ctx.db, ctx.principal, 'api', input.name)),
  createAgent: ownerProcedure
    .input(z.object({ name: z.string().trim().min(1, { message: 'is required' }).max(100) }))
    .output(z.object({ id: z.string(), token: z.string(), prefix: z.string() }))
    .mutation(({ ctx, input }) => createToken(ctx.db, ctx.principal, 'agent', input.name)),
  revoke: viewerProcedure
    .input(z.object({ tokenId: z.uuid() }))
    .output(z.object({ ok: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      await revokeToken(ctx.db, ctx.principal, input.tokenId);
      ctx.agents?.revokeToken(input.tokenId);
      return { ok: true as const };
    }),
});
