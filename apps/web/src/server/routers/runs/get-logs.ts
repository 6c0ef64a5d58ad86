import { INT4_MAX } from '@anneal/protocol';
import { z } from 'zod';
import { readLogs } from '../../domain/runs/logs.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { logLine } from '../outputs.ts';

export const getLogs = viewerProcedure
  .input(z.object({ runId: z.uuid(), afterSeq: z.number().int().min(-1).max(INT4_MAX).optional() }))
  .output(z.array(logLine))
  .query(({ ctx, input }) => readLogs(ctx.db, ctx.principal.orgId, input.runId, input.afterSeq));
