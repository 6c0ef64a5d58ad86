import { listMembers as list, listPendingInvites } from '../../domain/accounts/members.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { memberList } from '../outputs.ts';

export const listMembers = viewerProcedure.output(memberList).query(async ({ ctx }) => ({
  members: await list(ctx.db, ctx.principal.orgId),
  invites:
    ctx.principal.role === 'owner' ? await listPendingInvites(ctx.db, ctx.principal.orgId) : [],
}));
