import { z } from 'zod';
import { listDatasets as list } from '../../domain/datasets/versions.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { datasetList } from '../outputs.ts';

export const listDatasets = viewerProcedure
  .input(z.object({ projectId: z.uuid() }))
  .output(datasetList)
  .query(({ ctx, input }) => list(ctx.db, ctx.principal.orgId, input.projectId));
