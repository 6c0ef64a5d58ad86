import { z } from 'zod';
import { listArtifacts } from '../../domain/artifacts/artifacts.ts';
import { getRunDetail as get } from '../../domain/runs/runs.ts';
import { modelsOfRun } from '../../mlflow/logged-models.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { runDetail } from '../outputs.ts';

export const getRun = viewerProcedure
  .input(z.object({ runId: z.uuid() }))
  .output(runDetail)
  .query(async ({ ctx, input }) => {
    const run = await get(ctx.db, ctx.principal.orgId, input.runId);
    const artifacts = await listArtifacts(ctx.db, ctx.principal.orgId, input.runId);
    const made = await modelsOfRun(ctx.db, run.id);
    return {
      ...run,
      artifacts,
      loggedModels: made.map(({ model, artifactCount }) => ({
        id: model.id,
        name: model.name,
        status: model.status.replace(/^LOGGED_MODEL_/, ''),
        artifactCount,
        createdAt: model.createdAt,
      })),
    };
  });
