import { z } from 'zod';
import { getDatasetVersionPage } from '../../domain/datasets/versions.ts';
import { procedure } from '../../trpc/init.ts';
import { datasetVersionPage } from '../outputs.ts';

/**
 * A version for its page (counts per label, thumbnails, first files; the manifest is read
 * by REST): an agent token only while a leased job uses it.
 */
export const getVersion = procedure({ role: 'viewer', agent: 'read-leased-dataset-version' })
  .input(z.object({ versionId: z.uuid() }))
  .output(datasetVersionPage)
  .query(({ ctx, input }) => getDatasetVersionPage(ctx.db, ctx.principal.orgId, input.versionId));
