import { z } from 'zod';
import { listVersions as list } from '../../domain/registry/registry.ts';
import { viewerProcedure } from '../../trpc/init.ts';

export const listVersions = viewerProcedure
  .input(z.object({ projectId: z.uuid() }))
  .output(
    z.array(
      z.object({ id: z.string(), modelName: z.string(), version: z.number(), createdAt: z.date() }),
    ),
  )
  .query(({ ctx, input }) => list(ctx.db, ctx.principal.orgId, input.projectId));
