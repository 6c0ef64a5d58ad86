import { z } from 'zod';
import { restoreRun as restore } from '../../domain/runs/lifecycle.ts';
import { editorProcedure } from '../../trpc/init.ts';

/** Restores a run deleted through MLflow (MLflow's restore_run). */
export const restoreRun = editorProcedure
  .input(z.object({ runId: z.uuid() }))
  .output(z.object({ id: z.string() }))
  .mutation(async ({ ctx, input }) => {
    const run = await restore(ctx.db, ctx.principal.orgId, input.runId);
    return { id: run.id };
  });
