import { z } from 'zod';
import { restoreProject as restore } from '../../domain/projects/lifecycle.ts';
import { editorProcedure } from '../../trpc/init.ts';

/** Restores a project deleted through MLflow, with all its runs (MLflow's restore_experiment). */
export const restoreProject = editorProcedure
  .input(z.object({ projectId: z.uuid() }))
  .output(z.object({ id: z.string() }))
  .mutation(async ({ ctx, input }) => {
    await restore(ctx.db, ctx.principal.orgId, input.projectId);
    return { id: input.projectId };
  });
