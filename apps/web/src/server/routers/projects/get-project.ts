import { z } from 'zod';
import { getProject as get } from '../../domain/projects/projects.ts';
import { viewerProcedure } from '../../trpc/init.ts';

export const getProject = viewerProcedure
  .input(z.object({ projectId: z.uuid() }))
  .output(
    z.object({
      id: z.string(),
      name: z.string(),
      description: z.string(),
      createdAt: z.date(),
      deletedAt: z.date().nullable(),
    }),
  )
  .query(async ({ ctx, input }) => {
    const p = await get(ctx.db, ctx.principal.orgId, input.projectId);
    return {
      id: p.id,
      name: p.name,
      description: p.description,
      createdAt: p.createdAt,
      deletedAt: p.deletedAt,
    };
  });
