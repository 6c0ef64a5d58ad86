import { z } from 'zod';
import { listRuns as list, listRunsInput } from '../../domain/runs/runs.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { runRow } from '../outputs.ts';

export const listRuns = viewerProcedure
  .input(listRunsInput)
  .output(z.array(runRow))
  .query(({ ctx, input }) => list(ctx.db, ctx.principal.orgId, input));
