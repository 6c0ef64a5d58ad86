import { z } from 'zod';
import { runJob } from '../../domain/runs/lineage.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { runJob as output } from '../outputs.ts';

export const getJob = viewerProcedure
  .input(z.object({ runId: z.uuid() }))
  .output(output)
  .query(({ ctx, input }) => runJob(ctx.db, ctx.principal.orgId, input.runId));
