import { z } from 'zod';
import { runLineage } from '../../domain/runs/lineage.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { runLineage as output } from '../outputs.ts';

export const getLineage = viewerProcedure
  .input(z.object({ runId: z.uuid() }))
  .output(output)
  .query(({ ctx, input }) => runLineage(ctx.db, ctx.principal.orgId, input.runId));
