import { z } from 'zod';
import { listModels as list } from '../../domain/registry/registry.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { modelSummary } from '../outputs.ts';

export const listModels = viewerProcedure
  .input(z.object({ projectId: z.uuid() }))
  .output(z.array(modelSummary))
  .query(({ ctx, input }) => list(ctx.db, ctx.principal.orgId, input.projectId));
