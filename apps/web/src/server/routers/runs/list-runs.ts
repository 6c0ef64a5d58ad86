import { listRunsInput, listRuns as list } from '../../domain/runs/runs.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { runRow } from '../outputs.ts';
import { z } from 'zod';

export const listRuns = viewerProcedure
  .input(listRunsInput)
  .output(z.array(runRow))
  .query(({ ctx, input }) => list(ctx.db, ctx.principal.orgId, input));
