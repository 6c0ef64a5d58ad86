import type { Db } from '@anneal/db/client';
import { loggedModelMetrics, loggedModels } from '@anneal/db/schema';
import { and, desc, eq, inArray, isNull, type SQL } from 'drizzle-orm';
import { invalid } from './errors.ts';
import type { LoggedModelRow, ModelMetric } from './logged-models.ts';
import { type Clause, compare, compareValues } from './search.ts';

/**
 * MLflow's logged-models/search. What SQL decides (the experiments, not deleted, a name given
 * exactly) is asked of SQL; the rest of the filter and the order are checked here, on at most
 * `scan` models (more is refused, naming the bound, never cut silently), with the latest point
 * per (metric, dataset) of those models only when the filter or the order names a metric.
 */

export interface LoggedModelSearchBounds {
  /** The most models read past the SQL part of the filter. */
  scan: number;
}
export const LOGGED_MODEL_SEARCH_BOUNDS: LoggedModelSearchBounds = { scan: 50_000 };

/** MLflow's status names in filters: READY or LOGGED_MODEL_READY alike. */
export const shortStatus = (s: string) => s.replace(/^LOGGED_MODEL_/, '');

export function modelValue(
  m: LoggedModelRow,
  metrics: ModelMetric[],
  entity: Clause['entity'],
  k: string,
): string | number | undefined {
  switch (entity) {
    case 'param':
      return m.params[k];
    case 'tag':
      return m.tags[k];
    case 'metric': {
      // The value at the highest step, as a run's latest metric.
      let best: ModelMetric | undefined;
      for (const x of metrics) if (x.key === k && (!best || x.step >= best.step)) best = x;
      return best?.value;
    }
    case 'attribute':
      switch (k) {
        case 'name':
          return m.name;
        case 'model_id':
          return m.id;
        case 'status':
          return shortStatus(m.status);
        case 'model_type':
          return m.modelType;
        case 'source_run_id':
          return m.sourceRunId;
        case 'experiment_id':
          return m.projectId;
        case 'creation_time':
        case 'creation_timestamp':
        case 'creation_timestamp_ms':
          return m.createdAt.getTime();
        case 'last_updated_timestamp':
        case 'last_updated_timestamp_ms':
          return m.updatedAt.getTime();
        default:
          throw invalid(`filter: logged models have no attribute "${k}"`);
      }
  }
}

export function fieldOf(name: string): { entity: Clause['entity']; key: string } {
  const m = /^(metrics|params|tags|attributes)\.(.+)$/.exec(name);
  if (!m) return { entity: 'attribute', key: name };
  const entity = (
    { metrics: 'metric', params: 'param', tags: 'tag', attributes: 'attribute' } as const
  )[m[1] as 'metrics'];
  return { entity, key: (m[2] as string).replace(/^[`"](.*)[`"]$/, '$1') };
}

/** A dataset a metric was logged against, as the client names it (digest optional). */
export interface DatasetRef {
  dataset_name: string;
  dataset_digest?: string | undefined;
}

export interface LoggedModelOrder {
  field_name: string;
  ascending?: boolean | undefined;
  dataset_name?: string | undefined;
  dataset_digest?: string | undefined;
}

export interface LoggedModelSearch {
  projectIds: string[];
  clauses: Clause[];
  datasets: DatasetRef[];
  order: LoggedModelOrder[];
}

/** The latest point of each (metric, dataset) of the models: what filters and orders compare. */
async function latestModelMetrics(db: Db, ids: string[], keys: string[]) {
  const out = new Map<string, ModelMetric[]>();
  if (ids.length === 0 || keys.length === 0) return out;
  for (let at = 0; at < ids.length; at += 1000) {
    const rows = await db
      .selectDistinctOn(
        [
          loggedModelMetrics.modelId,
          loggedModelMetrics.key,
          loggedModelMetrics.datasetName,
          loggedModelMetrics.datasetDigest,
        ],
        {
          modelId: loggedModelMetrics.modelId,
          key: loggedModelMetrics.key,
          step: loggedModelMetrics.step,
          value: loggedModelMetrics.value,
          time: loggedModelMetrics.time,
          runId: loggedModelMetrics.runId,
          datasetName: loggedModelMetrics.datasetName,
          datasetDigest: loggedModelMetrics.datasetDigest,
        },
      )
      .from(loggedModelMetrics)
      .where(
        and(
          inArray(loggedModelMetrics.modelId, ids.slice(at, at + 1000)),
          inArray(loggedModelMetrics.key, keys),
        ),
      )
      .orderBy(
        loggedModelMetrics.modelId,
        loggedModelMetrics.key,
        loggedModelMetrics.datasetName,
        loggedModelMetrics.datasetDigest,
        desc(loggedModelMetrics.step),
      );
    for (const r of rows) {
      const list = out.get(r.modelId) ?? [];
      list.push(r);
      out.set(r.modelId, list);
    }
  }
  return out;
}

const inDatasets = (x: ModelMetric, datasets: DatasetRef[]) =>
  datasets.length === 0 ||
  datasets.some(
    (d) =>
      d.dataset_name === x.datasetName &&
      (d.dataset_digest === undefined || d.dataset_digest === x.datasetDigest),
  );

/** Every matching model, sorted; the caller pages. */
export async function searchLoggedModels(
  db: Db,
  q: LoggedModelSearch,
  bounds: LoggedModelSearchBounds = LOGGED_MODEL_SEARCH_BOUNDS,
): Promise<LoggedModelRow[]> {
  const where: SQL[] = [
    inArray(loggedModels.projectId, q.projectIds),
    isNull(loggedModels.deletedAt),
  ];
  const inMemory: Clause[] = [];
  for (const c of q.clauses) {
    if (c.entity === 'attribute') modelValue(probe, [], 'attribute', c.key);
    if (c.entity === 'attribute' && c.key === 'name' && c.op === '=' && typeof c.value === 'string')
      where.push(eq(loggedModels.name, c.value));
    else inMemory.push(c);
  }
  const order = [
    ...q.order.map((o) => ({
      ...fieldOf(o.field_name),
      descending: o.ascending === false,
      // An order's own dataset, if it names one, else the search's datasets.
      datasets: o.dataset_name
        ? [{ dataset_name: o.dataset_name, dataset_digest: o.dataset_digest }]
        : q.datasets,
    })),
    { entity: 'attribute' as const, key: 'creation_timestamp', descending: true, datasets: [] },
    { entity: 'attribute' as const, key: 'model_id', descending: false, datasets: [] },
  ];
  for (const o of order) if (o.entity === 'attribute') modelValue(probe, [], 'attribute', o.key);
  const rows = await db
    .select()
    .from(loggedModels)
    .where(and(...where))
    .orderBy(desc(loggedModels.createdAt))
    .limit(bounds.scan + 1);
  if (rows.length > bounds.scan)
    throw invalid(
      `filter: more than ${bounds.scan} logged models are in these experiments${where.length > 2 ? ' with that name' : ''}; search fewer experiments, or filter on name = '...'`,
    );
  const metricKeys = [
    ...new Set([...inMemory, ...order].filter((c) => c.entity === 'metric').map((c) => c.key)),
  ];
  const latest = await latestModelMetrics(
    db,
    rows.map((r) => r.id),
    metricKeys,
  );
  // Metric filters see only metrics of the named datasets, when some are named.
  const metricsOf = (m: LoggedModelRow, datasets: DatasetRef[]) =>
    (latest.get(m.id) ?? []).filter((x) => inDatasets(x, datasets));
  const kept = rows.filter((m) =>
    inMemory.every((c) => compare(modelValue(m, metricsOf(m, q.datasets), c.entity, c.key), c)),
  );
  kept.sort((a, b) => {
    for (const o of order) {
      const d = compareValues(
        modelValue(a, metricsOf(a, o.datasets), o.entity, o.key),
        modelValue(b, metricsOf(b, o.datasets), o.entity, o.key),
        o.descending,
      );
      if (d !== 0) return d;
    }
    return 0;
  });
  return kept;
}

/** A model that names no attribute wrongly, to check attribute names before any query. */
const probe = {
  id: '',
  projectId: '',
  name: '',
  status: 'LOGGED_MODEL_PENDING',
  params: {},
  tags: {},
  createdAt: new Date(0),
  updatedAt: new Date(0),
} as unknown as LoggedModelRow;
