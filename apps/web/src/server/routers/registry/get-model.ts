import { z } from 'zod';
import { readModel } from '../../domain/registry/registry.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { modelDetail } from '../outputs.ts';

export const getModel = viewerProcedure
  .input(z.object({ projectId: z.uuid(), name: z.string().min(1) }))
  .output(modelDetail)
  .query(({ ctx, input }) => readModel(ctx.db, ctx.principal.orgId, input.projectId, input.name));
