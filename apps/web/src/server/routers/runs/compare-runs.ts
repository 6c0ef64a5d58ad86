import { z } from 'zod';
import { compareRuns as compare } from '../../domain/runs/compare.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { comparison } from '../outputs.ts';

export const compareRuns = viewerProcedure
  .input(z.object({ runIds: z.array(z.uuid()).min(2).max(10) }))
  .output(comparison)
  .query(({ ctx, input }) => compare(ctx.db, ctx.principal.orgId, input.runIds));
