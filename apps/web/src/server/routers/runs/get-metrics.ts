import { z } from 'zod';
import { readMetrics } from '../../domain/runs/metrics.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { metricSeries } from '../outputs.ts';

export const getMetrics = viewerProcedure
  .input(z.object({ runId: z.uuid(), keys: z.array(z.string()).optional() }))
  .output(z.array(metricSeries))
  .query(({ ctx, input }) => readMetrics(ctx.db, ctx.principal.orgId, input.runId, input.keys));
