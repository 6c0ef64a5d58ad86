import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import type { ParamValue } from '@anneal/db/schema';
import { readSeries } from './metrics.ts';
import { getRunDetail } from './runs.ts';

/**
 * Param keys whose values are not the same in every run (a key missing from a run counts
 * as different). Comparison shows these by default: the rest is shared context.
 */
export function differingParamKeys(params: Record<string, ParamValue>[]): string[] {
  const keys = new Set(params.flatMap((p) => Object.keys(p)));
  return [...keys]
    .filter((key) => {
      const values = params.map((p) => (key in p ? JSON.stringify(p[key]) : undefined));
      return values.some((v) => v !== values[0]);
    })
    .sort();
}

export async function compareRuns(db: Db, orgId: string, runIds: string[]) {
  if (runIds.length < 2) throw new AppError('BAD_REQUEST', 'runIds: pick at least two runs');
  const runs = await Promise.all(runIds.map((id) => getRunDetail(db, orgId, id)));
  const series = await readSeries(db, runIds);
  return {
    runs: runs.map((r) => ({
      id: r.id,
      name: r.name,
      status: r.status,
      params: r.params,
      startedAt: r.startedAt,
      datasetVersionId: r.datasetVersionId,
      datasetLabel: r.datasetLabel,
      metrics: series.get(r.id) ?? [],
    })),
    differing: differingParamKeys(runs.map((r) => r.params)),
    allKeys: [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort(),
  };
}
