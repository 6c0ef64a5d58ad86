import type { Db } from '@anneal/db/client';
import { runs } from '@anneal/db/schema';
import { and, asc, inArray, isNotNull, isNull, notInArray, type SQL, sql } from 'drizzle-orm';
import { type LatestMetric, MLFLOW_TO_RUN_STATUS, type RunRow, runInfoJson } from './entities.ts';
import { invalid } from './errors.ts';
import { type Clause, compare, compareValues, type OrderBy } from './search.ts';
import { latestMetrics, type ViewType } from './store.ts';

/**
 * MLflow's runs/search without loading every run: the experiments, the view type, what the
 * filter says about status and times, the order (by attributes) and the page go to SQL; only
 * what SQL is not asked to decide (params, tags, metrics, LIKE on names) is checked here, on
 * runs read in chunks, so memory holds one chunk and one page whatever the experiment's size.
 * An order by a metric, param or tag needs every match in hand: those runs (at most
 * SORT_BOUND; more is refused, naming the limit) are sorted here.
 */

type RunWithMetrics = { run: RunRow; latest: Map<string, number> };

const CHUNK = 1000;
/** The most matching runs sorted in memory for an order by metrics, params or tags. */
export const SORT_BOUND = 50_000;
/** The most runs one search reads past the filter before it stops (its page then ends there). */
export const SCAN_BOUND = 200_000;

function attributeOf(r: RunRow, name: string): string | number | undefined {
  switch (name) {
    case 'run_id':
    case 'run_uuid':
      return r.id;
    case 'run_name':
      return r.name;
    case 'status':
      return runInfoJson(r).status;
    case 'start_time':
      return r.startedAt.getTime();
    case 'end_time':
      return r.endedAt?.getTime();
    case 'experiment_id':
      return r.projectId;
    case 'artifact_uri':
      return runInfoJson(r).artifact_uri;
    case 'user_id':
      return r.tags['mlflow.user'];
    case 'lifecycle_stage':
      return runInfoJson(r).lifecycle_stage;
    default:
      throw invalid(`filter: runs have no attribute "${name}"`);
  }
}

export function runValue(x: RunWithMetrics, entity: Clause['entity'], name: string) {
  switch (entity) {
    case 'metric':
      return x.latest.get(name);
    case 'param': {
      const v = x.run.params[name];
      return v === undefined || v === null ? undefined : String(v);
    }
    case 'tag':
      return x.run.tags[name];
    case 'attribute':
      return attributeOf(x.run, name);
  }
}

/** Epoch milliseconds as the client sees them (JavaScript's getTime truncates microseconds). */
const epochMs = (column: typeof runs.startedAt | typeof runs.endedAt) =>
  sql`floor(extract(epoch from ${column}) * 1000)`;

const SQL_OPS = { '=': '=', '!=': '<>', '<': '<', '<=': '<=', '>': '>', '>=': '>=' } as const;

/** The clause as SQL, or null where it is left to `compare` (the same semantics, either way). */
function clauseSql(c: Clause): SQL | null {
  if (c.entity !== 'attribute') return null;
  if (c.key === 'status' && ['=', '!=', 'IN', 'NOT IN'].includes(c.op)) {
    const names = (Array.isArray(c.value) ? c.value : [c.value]).map(String);
    const statuses = names.map((n) => MLFLOW_TO_RUN_STATUS[n]).filter((s) => s !== undefined);
    const positive = c.op === '=' || c.op === 'IN';
    if (statuses.length === 0) return positive ? sql`false` : sql`true`;
    return positive ? inArray(runs.status, statuses) : notInArray(runs.status, statuses);
  }
  if (
    (c.key === 'start_time' || c.key === 'end_time') &&
    typeof c.value === 'number' &&
    c.op in SQL_OPS
  ) {
    const column = c.key === 'start_time' ? runs.startedAt : runs.endedAt;
    return sql`${epochMs(column)} ${sql.raw(SQL_OPS[c.op as keyof typeof SQL_OPS])} ${c.value}`;
  }
  return null;
}

/** The order by attributes as SQL; null if some key is not an attribute SQL orders alike. */
function orderSql(order: OrderBy[]): SQL[] | null {
  const out: SQL[] = [];
  for (const o of [
    ...order,
    { entity: 'attribute', key: 'start_time', descending: true } as const,
    { entity: 'attribute', key: 'run_id', descending: false } as const,
  ]) {
    if (o.entity !== 'attribute') return null;
    const dir = sql.raw(o.descending ? 'desc' : 'asc');
    // Missing values last whatever the direction, as compareValues orders them.
    if (o.key === 'start_time') out.push(sql`${epochMs(runs.startedAt)} ${dir} nulls last`);
    else if (o.key === 'end_time') out.push(sql`${epochMs(runs.endedAt)} ${dir} nulls last`);
    // Code point order, as JavaScript compares the names in memory.
    else if (o.key === 'run_name') out.push(sql`${runs.name} collate "C" ${dir}`);
    else if (o.key === 'run_id' || o.key === 'run_uuid') out.push(sql`${runs.id} ${dir}`);
    else return null;
  }
  return out;
}

export interface RunSearch {
  projectIds: string[];
  view: ViewType;
  clauses: Clause[];
  order: OrderBy[];
  offset: number;
  maxResults: number;
}

/** One page of matching runs (offset into the ordered matches) and whether more follow. */
export async function searchRuns(
  db: Db,
  q: RunSearch,
): Promise<{ page: RunRow[]; latest: Map<string, LatestMetric[]>; more: boolean }> {
  const empty = { page: [], latest: new Map(), more: false };
  if (q.projectIds.length === 0) return empty;
  // Every attribute the filter names is checked before any run is read.
  for (const c of q.clauses) if (c.entity === 'attribute') attributeOf(probe, c.key);
  for (const o of q.order) if (o.entity === 'attribute') attributeOf(probe, o.key);
  const where: SQL[] = [inArray(runs.projectId, q.projectIds)];
  if (q.view === 'ACTIVE_ONLY') where.push(isNull(runs.deletedAt));
  if (q.view === 'DELETED_ONLY') where.push(isNotNull(runs.deletedAt));
  const inMemory: Clause[] = [];
  for (const c of q.clauses) {
    const s = clauseSql(c);
    if (s) where.push(s);
    else inMemory.push(c);
  }
  const order = orderSql(q.order);
  const base = () =>
    db
      .select()
      .from(runs)
      .where(and(...where));
  const withMetrics = async (rows: RunRow[]) => {
    const latest = await latestMetrics(
      db,
      rows.map((r) => r.id),
    );
    const list: RunWithMetrics[] = rows.map((run) => ({
      run,
      latest: new Map((latest.get(run.id) ?? []).map((m) => [m.key, m.value])),
    }));
    return { list, latest };
  };
  const matches = (x: RunWithMetrics) =>
    inMemory.every((c) => compare(runValue(x, c.entity, c.key), c));

  if (order && inMemory.length === 0) {
    // All in SQL: one more row than the page says whether another page follows.
    const rows = await base()
      .orderBy(...order)
      .offset(q.offset)
      .limit(q.maxResults + 1);
    const page = rows.slice(0, q.maxResults);
    return {
      page,
      latest: (await withMetrics(page)).latest,
      more: rows.length > q.maxResults,
    };
  }

  if (order) {
    // SQL orders; the rest of the filter is checked chunk by chunk until the page is full.
    const page: RunWithMetrics[] = [];
    const latest = new Map<string, LatestMetric[]>();
    let skipped = 0;
    for (let at = 0; at < SCAN_BOUND; at += CHUNK) {
      const rows = await base()
        .orderBy(...order)
        .offset(at)
        .limit(CHUNK);
      const chunk = await withMetrics(rows);
      for (const x of chunk.list) {
        if (!matches(x)) continue;
        if (skipped < q.offset) {
          skipped++;
          continue;
        }
        if (page.length === q.maxResults)
          return { page: page.map((p) => p.run), latest, more: true };
        page.push(x);
        latest.set(x.run.id, chunk.latest.get(x.run.id) ?? []);
      }
      if (rows.length < CHUNK) break;
    }
    return { page: page.map((p) => p.run), latest, more: false };
  }

  // An order by metrics, params or tags: every match is sorted here, up to SORT_BOUND.
  const kept: RunWithMetrics[] = [];
  const latest = new Map<string, LatestMetric[]>();
  for (let at = 0; ; at += CHUNK) {
    const rows = await base().orderBy(asc(runs.id)).offset(at).limit(CHUNK);
    const chunk = await withMetrics(rows);
    for (const x of chunk.list)
      if (matches(x)) {
        if (kept.length === SORT_BOUND)
          throw invalid(
            `order_by: more than ${SORT_BOUND} runs match; ordering by metrics, params or tags needs a filter that leaves at most ${SORT_BOUND}`,
          );
        kept.push(x);
        latest.set(x.run.id, chunk.latest.get(x.run.id) ?? []);
      }
    if (rows.length < CHUNK) break;
  }
  const keys: OrderBy[] = [
    ...q.order,
    { entity: 'attribute', key: 'start_time', descending: true },
    { entity: 'attribute', key: 'run_id', descending: false },
  ];
  kept.sort((a, b) => {
    for (const k of keys) {
      const d = compareValues(
        runValue(a, k.entity, k.key),
        runValue(b, k.entity, k.key),
        k.descending,
      );
      if (d !== 0) return d;
    }
    return 0;
  });
  const page = kept.slice(q.offset, q.offset + q.maxResults);
  const pageLatest = new Map(page.map((x) => [x.run.id, latest.get(x.run.id) ?? []]));
  return {
    page: page.map((x) => x.run),
    latest: pageLatest,
    more: kept.length > q.offset + q.maxResults,
  };
}

/** A run that names no attribute wrongly, to check attribute names before any query. */
const probe: RunRow = {
  id: '',
  projectId: '',
  name: '',
  status: 'running',
  params: {},
  tags: {},
  startedAt: new Date(0),
  endedAt: null,
};
