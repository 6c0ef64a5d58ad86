import type { IncomingMessage } from 'node:http';
import type { Db } from '@anneal/db/client';
import { metrics } from '@anneal/db/schema';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { RestContext } from '../../rest/route.ts';
import { type RunRow, runJson } from '../entities.ts';
import { invalid } from '../errors.ts';
import { modelsOfRun } from '../logged-models.ts';
import { latestMetrics } from '../store.ts';

// MLflow's limits (mlflow/utils/validation.py), which its clients split their batches by.
export const MLFLOW_LIMITS = {
  metricsPerBatch: 1000,
  paramsTagsPerBatch: 100,
  entitiesPerBatch: 1000,
  batchBytes: 1_000_000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
  maxResults: 50_000,
} as const;

export const VIEWER = { role: 'viewer', agent: 'none' } as const;
export const EDITOR = { role: 'editor', agent: 'none' } as const;
export const TAG = 'mlflow';

/** int64 fields arrive as numbers, or as strings in query strings. */
export const int64 = z.coerce.number().int();
export const key = z
  .string()
  .min(1, { message: 'is required' })
  .max(MLFLOW_LIMITS.keyLength, {
    message: `must be at most ${MLFLOW_LIMITS.keyLength} characters`,
  });
export const kv = (valueMax: number) =>
  z.object({
    key,
    value: z
      .string()
      .max(valueMax, { message: `must be at most ${valueMax} characters` })
      .default(''),
  });
export const param = kv(MLFLOW_LIMITS.paramValueLength);
export const tag = kv(MLFLOW_LIMITS.tagValueLength);
export const metric = z.object({
  key,
  value: z.union([z.number(), z.string().transform(Number)]).refine(Number.isFinite, {
    message: 'Anneal stores finite metric values only',
  }),
  timestamp: int64.optional(),
  step: int64.min(0, { message: 'Anneal keeps steps from 0 up' }).default(0),
  /** MLflow 3: the logged model the metric is for (kept on the model too). */
  model_id: z.string().max(100).optional(),
  dataset_name: z.string().max(500).optional(),
  dataset_digest: z.string().max(100).optional(),
  run_id: z.string().optional(),
});
export const runIdInput = { run_id: z.string().optional(), run_uuid: z.string().optional() };
export const pageToken = z.string().max(100).optional();
export const maxResults = (fallback: number) =>
  int64
    .min(1)
    .max(MLFLOW_LIMITS.maxResults, {
      message: `must be at most ${MLFLOW_LIMITS.maxResults}`,
    })
    .default(fallback);

export function runIdOf(input: {
  run_id?: string | undefined;
  run_uuid?: string | undefined;
}): string {
  const id = input.run_id || input.run_uuid;
  if (!id) throw invalid('run_id: is required');
  return id;
}

/**
 * Page tokens are offsets into a stable ordering, opaque to the client. Only what this server
 * issues is accepted: base64url of at most 9 digits, so a forged token never reaches SQL as
 * an OFFSET PostgreSQL rejects (1e19 would answer 500).
 */
export function offsetOf(token: string | undefined): number {
  if (!token) return 0;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!/^\d{1,9}$/.test(text) || Buffer.from(text, 'utf8').toString('base64url') !== token)
    throw invalid('page_token: not a token this server issued');
  return Number(text);
}
export function tokenAfter(offset: number, pageSize: number, total: number): string | undefined {
  const next = offset + pageSize;
  return next < total ? Buffer.from(String(next), 'utf8').toString('base64url') : undefined;
}

export async function runReply(db: Db, run: RunRow) {
  const latest = (await latestMetrics(db, [run.id])).get(run.id) ?? [];
  const made = await modelsOfRun(db, run.id);
  return {
    run: {
      ...runJson(run, latest),
      outputs: {
        model_outputs: made.map(({ model }) => ({ model_id: model.id, step: model.sourceStep })),
      },
    },
  };
}

/** Emits the dashboard's live events, as the REST API does for the same writes. */
export function emitWrites(
  ctx: RestContext<typeof EDITOR>,
  runId: string,
  metricKeys: string[],
  status?: string,
) {
  if (metricKeys.length)
    ctx.events.emit({ type: 'metrics', runId, keys: [...new Set(metricKeys)] });
  if (status) ctx.events.emit({ type: 'status', runId, status: status as never });
}

export async function logMetricPoints(db: Db, runId: string, points: z.infer<typeof metric>[]) {
  if (points.length === 0) return;
  // (run, key, step) is unique in Anneal: within a batch the last point for a step wins.
  const unique = new Map<string, z.infer<typeof metric>>();
  for (const p of points) unique.set(`${p.key}\u0000${p.step}`, p);
  await db
    .insert(metrics)
    .values(
      [...unique.values()].map((p) => ({
        runId,
        key: p.key,
        step: p.step,
        value: p.value,
        time: p.timestamp === undefined ? new Date() : new Date(p.timestamp),
      })),
    )
    .onConflictDoUpdate({
      target: [metrics.runId, metrics.key, metrics.step],
      set: {
        value: sqlExcluded('value'),
        time: sqlExcluded('time'),
      },
    });
}

export const sqlExcluded = (column: 'value' | 'time') => sql.raw(`excluded.${column}`);

/** Reads a body of at most `limit` bytes as JSON, refusing larger ones as MLflow does. */
export async function readLimitedJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      const declared = Number(req.headers['content-length'] ?? size);
      throw invalid(
        `Batched logging API requests must be at most ${limit} bytes, got a request of size ${Math.max(declared, size)}.`,
      );
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch (err) {
    throw invalid(`body: ${(err as Error).message}`);
  }
}

export function batchLimit(entity: string, limit: number, length: number) {
  if (length > limit)
    throw invalid(
      `A batch logging request can contain at most ${limit} ${entity}. Got ${length} ${entity}. Please split up ${entity} across multiple requests and try again.`,
    );
}

export const logBatchBody = z.object({
  ...runIdInput,
  metrics: z.array(metric).default([]),
  params: z.array(param).default([]),
  tags: z.array(tag).default([]),
});

/** MLflow's API path, under the /api/2.0 prefix. */
export const P = '/mlflow';
