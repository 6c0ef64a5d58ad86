import { z } from 'zod';
import { getDatasetVersion } from '../../domain/datasets/versions.ts';
import { procedure } from '../../trpc/init.ts';
import { datasetVersion } from '../outputs.ts';

/** As GET /dataset-versions/{versionId}: an agent token only while a leased job uses it. */
export const getVersion = procedure({ role: 'viewer', agent: 'read-leased-dataset-version' })
  .input(z.object({ versionId: z.uuid() }))
  .output(datasetVersion)
  .query(({ ctx, input }) => getDatasetVersion(ctx.db, ctx.principal.orgId, input.versionId));
