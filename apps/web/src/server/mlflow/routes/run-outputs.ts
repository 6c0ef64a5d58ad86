import { loggedModels, mlflowDatasetInputSchema, runs } from '@anneal/db/schema';
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { defineRoute, type RestRoute } from '../../rest/route.ts';
import { invalid } from '../errors.ts';
import { type LoggedModelRow, loggedModelOf } from '../logged-models.ts';
import { activeRunOf } from '../store.ts';
import { EDITOR, MLFLOW_LIMITS, P, TAG } from './common.ts';

/**
 * A run's outputs and inputs that name logged models, and the log-model history tag:
 * what MLflow's runs/outputs, runs/log-inputs and runs/log-model record on a run.
 */

const HISTORY_TAG = 'mlflow.log-model.history';

/** The run's log-model history: a JSON array, or refused, naming the tag (never dropped). */
function historyOf(runId: string, tag: string | undefined): unknown[] {
  if (!tag) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(tag);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed))
    throw invalid(
      `tags: run ${runId}'s ${HISTORY_TAG} tag is not a JSON array, so the model cannot be appended to it; fix or delete the tag first`,
    );
  return parsed;
}

/** What runs.mlflow_inputs keeps per run: each call is small, many calls must not add up. */
export const RUN_INPUT_LIMITS = { datasets: 1000, models: 1000, bytes: 4 * 1024 * 1024 };

function checkInputsFit(runId: string, datasets: number, models: number, inputs: unknown) {
  if (datasets > RUN_INPUT_LIMITS.datasets)
    throw invalid(
      `datasets: run ${runId} would keep ${datasets} dataset inputs; Anneal keeps at most ${RUN_INPUT_LIMITS.datasets} per run`,
    );
  if (models > RUN_INPUT_LIMITS.models)
    throw invalid(
      `models: run ${runId} would keep ${models} model inputs; Anneal keeps at most ${RUN_INPUT_LIMITS.models} per run`,
    );
  const bytes = Buffer.byteLength(JSON.stringify(inputs));
  if (bytes > RUN_INPUT_LIMITS.bytes)
    throw invalid(
      `datasets: run ${runId}'s inputs would take ${bytes} bytes; Anneal keeps at most ${RUN_INPUT_LIMITS.bytes} bytes of inputs per run`,
    );
}

export const runOutputRoutes: RestRoute[] = [
  defineRoute({
    method: 'POST',
    path: `${P}/runs/outputs`,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow LogOutputs: the run made these logged models (Anneal: the run must be their source run)',
    body: z.object({
      run_id: z.string(),
      models: z
        .array(z.object({ model_id: z.string(), step: z.coerce.number().int().min(0).default(0) }))
        .min(1, { message: 'name at least one logged model' })
        .max(MLFLOW_LIMITS.paramsTagsPerBatch),
    }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      // The ids first: another organization's model is not found, whatever else is wrong.
      const models = [];
      for (const o of body.models)
        models.push(await loggedModelOf(ctx.db, ctx.principal.orgId, o.model_id));
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, body.run_id);
      for (const o of body.models) {
        const m = models.find((x) => x.id === o.model_id) as LoggedModelRow;
        if (m.sourceRunId !== run.id)
          throw invalid(
            `models: logged model ${m.id} was made by run ${m.sourceRunId}; Anneal records a model as an output of its source run only`,
          );
        await ctx.db
          .update(loggedModels)
          .set({ sourceStep: o.step })
          .where(eq(loggedModels.id, m.id));
      }
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/log-inputs`,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow LogInputs: dataset inputs (deduplicated by name and digest) and logged-model inputs of a run',
    body: z.object({
      run_id: z.string(),
      datasets: z.array(mlflowDatasetInputSchema).max(1000).optional(),
      models: z
        .array(z.object({ model_id: z.string() }))
        .max(MLFLOW_LIMITS.paramsTagsPerBatch)
        .optional(),
    }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      // The ids first: another organization's model is not found, whatever else is wrong.
      for (const m of body.models ?? [])
        await loggedModelOf(ctx.db, ctx.principal.orgId, m.model_id);
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, body.run_id);
      await ctx.db.transaction(async (tx) => {
        const [locked] = await tx
          .select({ inputs: runs.mlflowInputs })
          .from(runs)
          .where(eq(runs.id, run.id))
          .for('update');
        const datasets = [...(locked?.inputs.datasets ?? [])];
        const seen = new Set(datasets.map((d) => `${d.dataset.name}\u0000${d.dataset.digest}`));
        for (const d of body.datasets ?? []) {
          const k = `${d.dataset.name}\u0000${d.dataset.digest}`;
          if (seen.has(k)) continue;
          seen.add(k);
          datasets.push(d);
        }
        const models = [...(locked?.inputs.models ?? [])];
        for (const m of body.models ?? [])
          if (!models.some((x) => x.model_id === m.model_id)) models.push({ model_id: m.model_id });
        checkInputsFit(run.id, datasets.length, models.length, { datasets, models });
        await tx
          .update(runs)
          .set({ mlflowInputs: { datasets, models } })
          .where(eq(runs.id, run.id));
      });
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/log-model`,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow LogModel: appends the model’s metadata to the run’s mlflow.log-model.history tag',
    body: z.object({ run_id: z.string(), model_json: z.string().max(1_000_000) }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, body.run_id);
      let entry: unknown;
      try {
        entry = JSON.parse(body.model_json);
      } catch {
        throw invalid('model_json: is not JSON');
      }
      await ctx.db.transaction(async (tx) => {
        const [locked] = await tx
          .select({ tags: runs.tags })
          .from(runs)
          .where(eq(runs.id, run.id))
          .for('update');
        const old = locked?.tags[HISTORY_TAG];
        const history = historyOf(run.id, old);
        const value = JSON.stringify([...history, entry]);
        await tx
          .update(runs)
          .set({
            tags: sql`${runs.tags} || ${JSON.stringify({ [HISTORY_TAG]: value })}::jsonb`,
          })
          .where(eq(runs.id, run.id));
      });
      return { json: {} };
    },
  }),
];
