import type { Db } from '@anneal/db/client';
import { metrics } from '@anneal/db/schema';
import { timestampSchema } from '@anneal/protocol';
import { and, asc, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { getRun, writableRun } from './runs.ts';

export const metricPointSchema = z.object({
  key: z.string().min(1).max(250),
  step: z.number().int().min(0),
  value: z.number().refine(Number.isFinite, { message: 'must be a finite number' }),
  time: timestampSchema.optional(),
});
export const logMetricsInput = z.object({
  metrics: z.array(metricPointSchema).min(1).max(10_000),
});
export type MetricPoint = z.infer<typeof metricPointSchema>;

/**
 * Upserts on (run, key, step): agents deliver at least once, so a replayed batch changes
 * nothing. Within one batch the last point for a (key, step) wins.
 */
export async function logMetrics(db: Db, orgId: string, runId: string, points: MetricPoint[]) {
  await writableRun(db, orgId, runId);
  const unique = new Map<string, MetricPoint>();
  for (const p of points) unique.set(`${p.key}\u0000${p.step}`, p);
  const rows = [...unique.values()].map((p) => ({
    runId,
    key: p.key,
    step: p.step,
    value: p.value,
    time: p.time ? new Date(p.time) : new Date(),
  }));
  await db
    .insert(metrics)
    .values(rows)
    .onConflictDoUpdate({
      target: [metrics.runId, metrics.key, metrics.step],
      set: { value: sql`excluded.value`, time: sql`excluded.time` },
    });
  return { accepted: rows.length };
}

export interface MetricSeries {
  key: string;
  points: { step: number; value: number; time: string }[];
}

/** Every series of the given runs (already checked to be the caller's), grouped by key. */
export async function readSeries(db: Db, runIds: string[], keys?: string[]) {
  if (runIds.length === 0) return new Map<string, MetricSeries[]>();
  const rows = await db
    .select()
    .from(metrics)
    .where(
      and(inArray(metrics.runId, runIds), keys?.length ? inArray(metrics.key, keys) : undefined),
    )
    .orderBy(asc(metrics.runId), asc(metrics.key), asc(metrics.step));
  const byRun = new Map<string, MetricSeries[]>();
  for (const row of rows) {
    const series = byRun.get(row.runId) ?? [];
    let last = series.at(-1);
    if (last?.key !== row.key) {
      last = { key: row.key, points: [] };
      series.push(last);
    }
    last.points.push({ step: row.step, value: row.value, time: row.time.toISOString() });
    byRun.set(row.runId, series);
  }
  return byRun;
}

export async function readMetrics(db: Db, orgId: string, runId: string, keys?: string[]) {
  await getRun(db, orgId, runId);
  return (await readSeries(db, [runId], keys)).get(runId) ?? [];
}
