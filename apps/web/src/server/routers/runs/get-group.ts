import { z } from 'zod';
import { runGroup } from '../../domain/jobs/groups.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { runGroup as output } from '../outputs.ts';

export const getGroup = viewerProcedure
  .input(z.object({ runId: z.uuid() }))
  .output(output)
  .query(({ ctx, input }) => runGroup(ctx.db, ctx.principal.orgId, input.runId));
