import { z } from 'zod';
import { updateRun as update, updateRunInput } from '../../domain/runs/runs.ts';
import { procedure } from '../../trpc/init.ts';

/** As PATCH /runs/{runId}: an agent token only on the run of a job leased to its agent. */
export const updateRun = procedure({ role: 'editor', agent: 'write-leased-run' })
  .input(updateRunInput.extend({ runId: z.uuid() }))
  .output(z.object({ id: z.string(), status: z.string() }))
  .mutation(async ({ ctx, input }) => {
    const { runId, ...patch } = input;
    const run = await update(ctx.db, ctx.principal.orgId, runId, patch);
    ctx.events.emit({ type: 'status', runId, status: run.status });
    return { id: run.id, status: run.status };
  });
