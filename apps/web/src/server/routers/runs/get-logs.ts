import { z } from 'zod';
import { readLogs } from '../../domain/runs/logs.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { logLine } from '../outputs.ts';

export const getLogs = viewerProcedure
  .input(z.object({ runId: z.uuid(), afterSeq: z.number().int().optional() }))
  .output(z.array(logLine))
  .query(({ ctx, input }) => readLogs(ctx.db, ctx.principal.orgId, input.runId, input.afterSeq));
