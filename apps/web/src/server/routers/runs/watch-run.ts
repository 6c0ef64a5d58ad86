import { z } from 'zod';
import { getRun } from '../../domain/runs/runs.ts';
import { viewerProcedure } from '../../trpc/init.ts';

/** Live nudges for one run (server-sent events); the page refetches what changed. */
export const watchRun = viewerProcedure
  .input(z.object({ runId: z.uuid() }))
  .subscription(async function* ({ ctx, input, signal }) {
    await getRun(ctx.db, ctx.principal.orgId, input.runId);
    yield* ctx.events.watch(input.runId, signal);
  });
