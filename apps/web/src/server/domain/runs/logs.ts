import type { Db } from '@anneal/db/client';
import { runLogs } from '@anneal/db/schema';
import { INT4_MAX } from '@anneal/protocol';
import { and, asc, eq, gt } from 'drizzle-orm';
import { z } from 'zod';
import { getRun, writableRun } from './runs.ts';

export const appendLogsInput = z.object({
  lines: z
    .array(z.object({ seq: z.number().int().min(0).max(INT4_MAX), line: z.string().max(10_000) }))
    .min(1)
    .max(5000),
});

/** Idempotent on (run, seq), like metrics: a replayed batch adds nothing. */
export async function appendLogs(
  db: Db,
  orgId: string,
  runId: string,
  lines: z.infer<typeof appendLogsInput>['lines'],
) {
  await writableRun(db, orgId, runId);
  await db
    .insert(runLogs)
    .values(lines.map((l) => ({ runId, seq: l.seq, line: l.line })))
    .onConflictDoNothing();
  return { accepted: lines.length };
}

export async function readLogs(db: Db, orgId: string, runId: string, afterSeq = -1) {
  await getRun(db, orgId, runId);
  return db
    .select({ seq: runLogs.seq, line: runLogs.line, time: runLogs.time })
    .from(runLogs)
    .where(and(eq(runLogs.runId, runId), gt(runLogs.seq, afterSeq)))
    .orderBy(asc(runLogs.seq))
    .limit(5000);
}
