import { createHash } from 'node:crypto';
import type { Db } from '@anneal/db/client';
import { runs } from '@anneal/db/schema';
import { and, asc, inArray, isNotNull, isNull, notInArray, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type LatestMetric, MLFLOW_TO_RUN_STATUS, type RunRow, runInfoJson } from './entities.ts';
import { invalid } from './errors.ts';
import { type Clause, compare, compareValues, type OrderBy } from './search.ts';
import { latestMetrics, type ViewType } from './store.ts';

/**
 * MLflow's runs/search without loading every run: the experiments, the view type, what the
 * filter says about status and times, the order (by attributes) and the page go to SQL; only
 * what SQL is not asked to decide (params, tags, metrics, LIKE on names) is checked here, on
 * runs read in keyset chunks ((sort key, id) after the last one read), so memory holds one
 * chunk and one page whatever the experiment's size, and no chunk rereads the ones before.
 * The page token is the position the page stopped at, so the next page resumes there, and
 * runs created meanwhile do not shift it. One request reads at most `scan` runs: a filtered
 * page that reaches it ends early, with a token to resume from where it stopped. An order by
 * a metric, param or tag needs every match in hand: at most `scan` runs are read and `sort`
 * kept (more is refused, naming the bound), and sorted here.
 */

type RunWithMetrics = { run: RunRow; latest: Map<string, number> };

export interface SearchBounds {
  /** Runs read per query. */
  chunk: number;
  /** The most runs one request reads past the SQL filter. */
  scan: number;
  /** The most matching runs sorted in memory for an order by metrics, params or tags. */
  sort: number;
}
export const SEARCH_BOUNDS: SearchBounds = { chunk: 1000, scan: 200_000, sort: 50_000 };

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

/**
 * Epoch milliseconds as the client sees them (JavaScript's getTime truncates microseconds),
 * compared as timestamps so the column's index serves: floor(ms(t)) >= x is t >= x ms, and
 * floor(ms(t)) > x is t >= (x + 1) ms.
 */
function timeSql(column: typeof runs.startedAt | typeof runs.endedAt, op: string, x: number) {
  const at = (ms: number) => sql`to_timestamp(${ms}::numeric / 1000)`;
  switch (op) {
    case '>=':
      return sql`${column} >= ${at(x)}`;
    case '>':
      return sql`${column} >= ${at(x + 1)}`;
    case '<':
      return sql`${column} < ${at(x)}`;
    case '<=':
      return sql`${column} < ${at(x + 1)}`;
    case '=':
      return sql`(${column} >= ${at(x)} and ${column} < ${at(x + 1)})`;
    default:
      return sql`not (${column} >= ${at(x)} and ${column} < ${at(x + 1)})`;
  }
}

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
    Object.hasOwn(SQL_OPS, c.op) &&
    Number.isSafeInteger(c.value)
  ) {
    const column = c.key === 'start_time' ? runs.startedAt : runs.endedAt;
    return timeSql(column, c.op, c.value);
  }
  return null;
}

/** One key of an order SQL decides: the column, its direction, and its type for a position. */
interface SqlKey {
  column: SQL;
  descending: boolean;
  type: 'timestamptz' | 'text' | 'uuid';
}

/** The order by attributes as SQL keys; null if some key is not an attribute SQL orders alike. */
function orderKeys(order: OrderBy[]): SqlKey[] | null {
  const out: SqlKey[] = [];
  for (const o of [
    ...order,
    { entity: 'attribute', key: 'start_time', descending: true } as const,
    { entity: 'attribute', key: 'run_id', descending: false } as const,
  ]) {
    if (o.entity !== 'attribute') return null;
    const d = o.descending;
    // The plain columns, so the (project, started_at) index serves the default order.
    if (o.key === 'start_time')
      out.push({ column: sql`${runs.startedAt}`, descending: d, type: 'timestamptz' });
    else if (o.key === 'end_time')
      out.push({ column: sql`${runs.endedAt}`, descending: d, type: 'timestamptz' });
    // Byte order of UTF-8, which is code point order. JavaScript compares UTF-16 code units,
    // which agree with it except between characters above U+FFFF and U+E000..U+FFFF; names
    // are ordered by one of the two per search path, never both in one answer.
    else if (o.key === 'run_name')
      out.push({ column: sql`${runs.name} collate "C"`, descending: d, type: 'text' });
    else if (o.key === 'run_id' || o.key === 'run_uuid')
      out.push({ column: sql`${runs.id}`, descending: d, type: 'uuid' });
    else return null;
  }
  return out;
}

/** Missing values last whatever the direction, as compareValues orders them. */
const orderBySql = (keys: SqlKey[]) =>
  keys.map((k) => sql`${k.column} ${sql.raw(k.descending ? 'desc' : 'asc')} nulls last`);

/** The rows strictly after `values` in the order of `keys` (nulls last). */
function afterSql(keys: SqlKey[], values: (string | number | null)[]): SQL {
  const alternatives: SQL[] = [];
  const equal: SQL[] = [];
  keys.forEach((k, i) => {
    const v = values[i];
    if (v === null || v === undefined) {
      // Nothing sorts after a missing value but other missing values.
      equal.push(sql`${k.column} is null`);
      return;
    }
    const value = sql`${String(v)}::${sql.raw(k.type)}`;
    const later = sql`(${k.column} ${sql.raw(k.descending ? '<' : '>')} ${value} or ${k.column} is null)`;
    alternatives.push(sql`(${sql.join([...equal, later], sql` and `)})`);
    equal.push(sql`${k.column} = ${value}`);
  });
  return alternatives.length ? sql`(${sql.join(alternatives, sql` or `)})` : sql`false`;
}

export interface RunSearch {
  projectIds: string[];
  view: ViewType;
  clauses: Clause[];
  order: OrderBy[];
  /** The page token of the previous page, if any. */
  pageToken: string | undefined;
  maxResults: number;
}

/**
 * A page token: where the previous page stopped, as the values of the order's keys there and
 * a digest of the order itself (a token is refused under another order_by).
 */
const positionSchema = z.object({
  o: z.string(),
  v: z.array(z.union([z.string().max(10_000), z.number(), z.null()])).max(40),
});
type Position = z.infer<typeof positionSchema>['v'];

const orderDigest = (order: OrderBy[]) =>
  createHash('sha256').update(JSON.stringify(order)).digest('base64url').slice(0, 16);

function tokenOf(order: OrderBy[], values: Position): string {
  return Buffer.from(JSON.stringify({ o: orderDigest(order), v: values }), 'utf8').toString(
    'base64url',
  );
}

const notIssued = () => invalid('page_token: not a token this server issued');
const TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The position in a token, checked against the order (and, for SQL keys, their types). */
function positionOf(
  token: string | undefined,
  order: OrderBy[],
  keys: SqlKey[] | null,
): Position | null {
  if (!token) return null;
  let parsed: z.infer<typeof positionSchema>;
  try {
    parsed = positionSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw notIssued();
  }
  if (parsed.o !== orderDigest(order))
    throw invalid('page_token: issued for another order_by; start again without it');
  if (keys) {
    if (parsed.v.length !== keys.length) throw notIssued();
    keys.forEach((k, i) => {
      const v = parsed.v[i];
      if (v === null) return;
      if (typeof v !== 'string') throw notIssued();
      if (k.type === 'timestamptz' && !TIMESTAMP.test(v)) throw notIssued();
      if (k.type === 'uuid' && !UUID.test(v)) throw notIssued();
    });
  }
  return parsed.v;
}

/** The columns a search reads per run: never mlflow_inputs (read for the page alone). */
const scanColumns = {
  id: runs.id,
  projectId: runs.projectId,
  name: runs.name,
  status: runs.status,
  params: runs.params,
  tags: runs.tags,
  startedAt: runs.startedAt,
  endedAt: runs.endedAt,
  jobId: runs.jobId,
  deletedAt: runs.deletedAt,
};

export interface RunPage {
  page: RunRow[];
  latest: Map<string, LatestMetric[]>;
  /** The token of the next page; absent when no run follows. */
  next: string | undefined;
}

/** One page of matching runs, from where the page token stopped. */
export async function searchRuns(
  db: Db,
  q: RunSearch,
  bounds: SearchBounds = SEARCH_BOUNDS,
): Promise<RunPage> {
  // Every attribute the filter names is checked before any run is read.
  for (const c of q.clauses) if (c.entity === 'attribute') attributeOf(probe, c.key);
  for (const o of q.order) if (o.entity === 'attribute') attributeOf(probe, o.key);
  const keys = orderKeys(q.order);
  const position = positionOf(q.pageToken, q.order, keys);
  if (q.projectIds.length === 0) return { page: [], latest: new Map(), next: undefined };
  const where: SQL[] = [inArray(runs.projectId, q.projectIds)];
  if (q.view === 'ACTIVE_ONLY') where.push(isNull(runs.deletedAt));
  if (q.view === 'DELETED_ONLY') where.push(isNotNull(runs.deletedAt));
  const inMemory: Clause[] = [];
  for (const c of q.clauses) {
    const s = clauseSql(c);
    if (s) where.push(s);
    else inMemory.push(c);
  }
  // Metrics are read for a chunk only when the filter or the order names one, and only those.
  const metricKeys = [
    ...new Set([...inMemory, ...q.order].filter((c) => c.entity === 'metric').map((c) => c.key)),
  ];
  const withMetrics = async (rows: RunRow[]) => {
    const latest = await latestMetrics(
      db,
      rows.map((r) => r.id),
      metricKeys,
    );
    return rows.map((run) => ({
      run,
      latest: new Map((latest.get(run.id) ?? []).map((m) => [m.key, m.value])),
    }));
  };
  const matches = (x: RunWithMetrics) =>
    inMemory.every((c) => compare(runValue(x, c.entity, c.key), c));
  /** The page as MLflow answers it: every metric's latest point, and what log-inputs kept. */
  const finish = async (page: RunRow[], next: Position | null): Promise<RunPage> => {
    const ids = page.map((r) => r.id);
    const inputs = ids.length
      ? await db
          .select({ id: runs.id, mlflowInputs: runs.mlflowInputs })
          .from(runs)
          .where(inArray(runs.id, ids))
      : [];
    const byId = new Map(inputs.map((r) => [r.id, r.mlflowInputs]));
    return {
      page: page.map((r) => ({ ...r, mlflowInputs: byId.get(r.id) ?? undefined })),
      latest: await latestMetrics(db, ids),
      next: next ? tokenOf(q.order, next) : undefined,
    };
  };

  if (keys) {
    // SQL orders; chunks are read from the position on, each after the last one's keys.
    const keyText = sql<(string | null)[]>`array[${sql.join(
      keys.map((k) => sql`(${k.column})::text`),
      sql`, `,
    )}]`;
    const chunkAfter = (at: Position | null, limit: number) =>
      db
        .select({ run: scanColumns, keys: keyText })
        .from(runs)
        .where(and(...where, ...(at ? [afterSql(keys, at)] : [])))
        .orderBy(...orderBySql(keys))
        .limit(limit);
    if (inMemory.length === 0) {
      // All in SQL: one more row than the page says whether another page follows.
      const rows = await chunkAfter(position, q.maxResults + 1);
      const page = rows.slice(0, q.maxResults);
      const more = rows.length > q.maxResults;
      return finish(
        page.map((r) => r.run),
        more ? (page.at(-1)?.keys ?? null) : null,
      );
    }
    // The rest of the filter is checked chunk by chunk until the page is full.
    const page: { run: RunRow; keys: Position }[] = [];
    let at = position;
    let scanned = 0;
    for (;;) {
      const rows = await chunkAfter(at, bounds.chunk);
      const chunk = await withMetrics(rows.map((r) => r.run));
      for (const [i, x] of chunk.entries()) {
        const row = rows[i];
        if (!row || !matches(x)) continue;
        // A match past a full page: the next page starts after the page's last run.
        if (page.length === q.maxResults)
          return finish(
            page.map((p) => p.run),
            page.at(-1)?.keys ?? null,
          );
        page.push({ run: x.run, keys: row.keys });
      }
      scanned += rows.length;
      const last = rows.at(-1);
      if (!last || rows.length < bounds.chunk)
        return finish(
          page.map((p) => p.run),
          null,
        );
      at = last.keys;
      // The scan bound: the page ends here, and the next one resumes after the last run read.
      if (scanned >= bounds.scan)
        return finish(
          page.map((p) => p.run),
          at,
        );
    }
  }

  // An order by metrics, params or tags: every match is sorted here, within the bounds.
  const kept: RunWithMetrics[] = [];
  let at: string | null = null;
  let scanned = 0;
  for (;;) {
    const rows: RunRow[] = await db
      .select(scanColumns)
      .from(runs)
      .where(and(...where, ...(at ? [sql`${runs.id} > ${at}::uuid`] : [])))
      .orderBy(asc(runs.id))
      .limit(bounds.chunk);
    scanned += rows.length;
    if (scanned > bounds.scan)
      throw invalid(
        `order_by: ordering by metrics, params or tags reads every run of the experiments, and they hold more than ${bounds.scan}; narrow the search with a filter on status or start_time, or order by attributes`,
      );
    for (const x of await withMetrics(rows))
      if (matches(x)) {
        if (kept.length === bounds.sort)
          throw invalid(
            `order_by: more than ${bounds.sort} runs match; ordering by metrics, params or tags needs a filter that leaves at most ${bounds.sort}`,
          );
        kept.push(x);
      }
    const last = rows.at(-1);
    if (!last || rows.length < bounds.chunk) break;
    at = last.id;
  }
  const sortKeys: OrderBy[] = [
    ...q.order,
    { entity: 'attribute', key: 'start_time', descending: true },
    { entity: 'attribute', key: 'run_id', descending: false },
  ];
  const valuesOf = (x: RunWithMetrics): Position =>
    sortKeys.map((k) => runValue(x, k.entity, k.key) ?? null);
  const versus = (a: Position, b: Position) => {
    for (const [i, k] of sortKeys.entries()) {
      const d = compareValues(a[i] ?? undefined, b[i] ?? undefined, k.descending);
      if (d !== 0) return d;
    }
    return 0;
  };
  const sorted = kept.map((x) => ({ x, values: valuesOf(x) }));
  sorted.sort((a, b) => versus(a.values, b.values));
  const from = position ? sorted.filter((s) => versus(s.values, position) > 0) : sorted;
  const page = from.slice(0, q.maxResults);
  return finish(
    page.map((p) => p.x.run),
    from.length > q.maxResults ? (page.at(-1)?.values ?? null) : null,
  );
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
