import { z } from 'zod';
import { getRun } from '../../domain/runs/runs.ts';
import { viewerProcedure } from '../../trpc/init.ts';

/** Live nudges for one run (server-sent events); the page refetches what changed. */
export const watchRun = viewerProcedure
  .input(z.object({ runId: z.uuid() }))
  // The run is resolved before the stream opens, so an unknown or foreign id answers
  // NOT_FOUND like any query instead of an error from inside the stream.
  .subscription(async ({ ctx, input, signal }) => {
    await getRun(ctx.db, ctx.principal.orgId, input.runId);
    return ctx.events.watch(input.runId, signal);
  });
