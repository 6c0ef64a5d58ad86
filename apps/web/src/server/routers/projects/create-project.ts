import { z } from 'zod';
import { createProject as create, createProjectInput } from '../../domain/projects/projects.ts';
import { editorProcedure } from '../../trpc/init.ts';

export const createProject = editorProcedure
  .input(createProjectInput)
  .output(z.object({ id: z.string(), name: z.string() }))
  .mutation(async ({ ctx, input }) => {
    const row = await create(ctx.db, ctx.principal.orgId, input);
    return { id: row.id, name: row.name };
  });
