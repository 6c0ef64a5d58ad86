import { z } from 'zod';
import { getDatasetVersion } from '../../domain/datasets/versions.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { datasetVersion } from '../outputs.ts';

export const getVersion = viewerProcedure
  .input(z.object({ versionId: z.uuid() }))
  .output(datasetVersion)
  .query(({ ctx, input }) => getDatasetVersion(ctx.db, ctx.principal.orgId, input.versionId));
