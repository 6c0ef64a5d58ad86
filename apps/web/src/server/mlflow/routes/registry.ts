import type { Db } from '@anneal/db/client';
import { mlflowPendingModels, modelVersions, registeredModels } from '@anneal/db/schema';
import { aliasSchema, modelNameSchema } from '@anneal/protocol';
import { and, asc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { listProjects, writableProject } from '../../domain/projects/projects.ts';
import { registerVersion, removeAlias, setAlias } from '../../domain/registry/registry.ts';
import { writableRun } from '../../domain/runs/runs.ts';
import { defineRoute, type RestRoute } from '../../rest/route.ts';
import { modelVersionJson, registeredModelJson } from '../entities.ts';
import { invalid, MlflowError } from '../errors.ts';
import { loggedModelOf, modelArtifactPath } from '../logged-models.ts';
import { type Clause, compare, parseFilter } from '../search.ts';
import { modelOf, modelsNamed, runOf, versionByAlias, versionOf, versionsOf } from '../store.ts';
import {
  EDITOR,
  maxResults,
  offsetOf,
  P,
  pageToken,
  TAG,
  tag,
  tokenAfter,
  VIEWER,
} from './common.ts';

// ---------------------------------------------------------------- registry helpers

function checkModelName(name: string): string {
  const parsed = modelNameSchema.safeParse(name);
  if (!parsed.success)
    throw invalid(
      `name: "${name}" is not a registered model name Anneal accepts (letters, digits, ".", "_" or "-", at most 100)`,
    );
  return parsed.data;
}

function checkAlias(alias: string): string {
  const parsed = aliasSchema.safeParse(alias);
  if (!parsed.success)
    throw invalid(
      `alias: "${alias}" is not an alias Anneal accepts (a lowercase letter, then lowercase letters, digits, "_" or "-", at most 50)`,
    );
  return parsed.data;
}

/**
 * A version's source must name a place in a run's artifacts: `runs:/<run_id>/<path>` or the
 * run's mlflow-artifacts location. Anneal keeps the run and the path, which is what its
 * registry records for a checkpoint.
 */
async function parseSource(
  db: Db,
  orgId: string,
  source: string,
): Promise<{ runId: string; path: string | undefined }> {
  // A logged model (MLflow 3's models:/<model_id>): its files in its source run's artifacts.
  const logged = /^models:\/(m-[0-9a-f]{32})\/?$/.exec(source);
  if (logged) {
    const m = await loggedModelOf(db, orgId, logged[1] as string);
    return { runId: m.sourceRunId, path: modelArtifactPath(m) };
  }
  const runs = /^runs:\/([^/]+)(?:\/(.*))?$/.exec(source);
  if (runs) return { runId: runs[1] as string, path: runs[2] || undefined };
  const proxied = /^mlflow-artifacts:(?:\/\/[^/]*)?\/[^/]+\/([^/]+)\/artifacts(?:\/(.*))?$/.exec(
    source,
  );
  if (proxied) return { runId: proxied[1] as string, path: proxied[2] || undefined };
  throw invalid(
    `source: "${source}" is not in a run's artifacts; Anneal registers versions from runs:/<run_id>/<path>, mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path> or a logged model's models:/<model_id>`,
  );
}

/**
 * Anneal's registry keeps no MLflow tags, so a tag comparison sees no tag: only `!=` and
 * NOT IN hold, as they do in MLflow for an absent tag (the client itself adds
 * `tags.mlflow.prompt.is_prompt != 'true'` to keep prompts out of model searches).
 */
function untagged(c: Clause): boolean {
  return c.op === '!=' || c.op === 'NOT IN';
}

/**
 * The project of a model created through the MLflow API: the one its tag anneal.project
 * names, the organization's only project, or none yet (null) when there are several; then
 * the model waits in mlflow_pending_models until its first version names a run.
 */
async function projectForNewModel(
  db: Db,
  orgId: string,
  tags: { key: string; value: string }[],
): Promise<string | null> {
  const wanted = tags.find((t) => t.key === 'anneal.project')?.value;
  const all = await listProjects(db, orgId);
  if (wanted) {
    const found = all.find((p) => p.id === wanted || p.name === wanted);
    if (!found)
      throw new MlflowError(
        'RESOURCE_DOES_NOT_EXIST',
        `tags.anneal.project: no project "${wanted}" in this organization`,
      );
    return found.id;
  }
  if (all.length === 1) return (all[0] as (typeof all)[number]).id;
  return null;
}

async function pendingOf(db: Db, orgId: string, name: string) {
  const [row] = await db
    .select()
    .from(mlflowPendingModels)
    .where(and(eq(mlflowPendingModels.orgId, orgId), eq(mlflowPendingModels.name, name)));
  return row;
}

async function modelReply(db: Db, model: typeof registeredModels.$inferSelect) {
  const versions = (await versionsOf(db, [model.id])).get(model.id) ?? [];
  return registeredModelJson(model, versions);
}

export const registryRoutes: RestRoute[] = [
  // ---- registry
  defineRoute({
    method: 'POST',
    path: `${P}/registered-models/create`,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow CreateRegisteredModel: in the organization’s one project, or tags anneal.project',
    body: z.object({
      name: z.string(),
      tags: z.array(tag).optional(),
      description: z.string().max(2000).optional(),
    }),
    response: { status: 200, description: '{registered_model}' },
    handle: async (ctx, { body }) => {
      const name = checkModelName(body.name);
      if ((await modelsNamed(ctx.db, ctx.principal.orgId, name)).length > 0)
        throw new MlflowError(
          'RESOURCE_ALREADY_EXISTS',
          `Registered Model (name=${name}) already exists.`,
        );
      if (await pendingOf(ctx.db, ctx.principal.orgId, name))
        throw new MlflowError(
          'RESOURCE_ALREADY_EXISTS',
          `Registered Model (name=${name}) already exists.`,
        );
      const projectId = await projectForNewModel(ctx.db, ctx.principal.orgId, body.tags ?? []);
      if (projectId === null) {
        const [pending] = await ctx.db
          .insert(mlflowPendingModels)
          .values({ orgId: ctx.principal.orgId, name, description: body.description ?? '' })
          .onConflictDoNothing()
          .returning();
        if (!pending)
          throw new MlflowError(
            'RESOURCE_ALREADY_EXISTS',
            `Registered Model (name=${name}) already exists.`,
          );
        return { json: { registered_model: registeredModelJson(pending, []) } };
      }
      const [model] = await ctx.db
        .insert(registeredModels)
        .values({ projectId, name, description: body.description ?? '' })
        .onConflictDoNothing()
        .returning();
      if (!model)
        throw new MlflowError(
          'RESOURCE_ALREADY_EXISTS',
          `Registered Model (name=${name}) already exists.`,
        );
      return { json: { registered_model: await modelReply(ctx.db, model) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/registered-models/get`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetRegisteredModel',
    query: z.object({ name: z.string() }),
    response: { status: 200, description: '{registered_model}' },
    handle: async (ctx, { query }) => {
      if ((await modelsNamed(ctx.db, ctx.principal.orgId, query.name)).length === 0) {
        const pending = await pendingOf(ctx.db, ctx.principal.orgId, query.name);
        if (pending) return { json: { registered_model: registeredModelJson(pending, []) } };
      }
      return {
        json: {
          registered_model: await modelReply(
            ctx.db,
            await modelOf(ctx.db, ctx.principal.orgId, query.name),
          ),
        },
      };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${P}/registered-models/update`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow UpdateRegisteredModel: the description',
    body: z.object({ name: z.string(), description: z.string().max(2000).optional() }),
    response: { status: 200, description: '{registered_model}' },
    handle: async (ctx, { body }) => {
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      const [row] = await ctx.db
        .update(registeredModels)
        .set({ description: body.description ?? '' })
        .where(eq(registeredModels.id, model.id))
        .returning();
      return { json: { registered_model: await modelReply(ctx.db, row ?? model) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/registered-models/search`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow SearchRegisteredModels: filter on name (=, LIKE, ILIKE), pages',
    query: z.object({
      filter: z.string().max(10_000).optional(),
      max_results: maxResults(100),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{registered_models, next_page_token}' },
    handle: async (ctx, { query }) => {
      const clauses = parseFilter(query.filter);
      for (const c of clauses)
        if (c.entity === 'tag' ? false : c.entity !== 'attribute' || c.key !== 'name')
          throw invalid(`filter: registered models are searched by name and tags, not ${c.key}`);
      const projects = await listProjects(ctx.db, ctx.principal.orgId);
      const models = await modelsOfProjects(
        ctx.db,
        projects.map((p) => p.id),
      );
      const kept = models.filter((m) =>
        clauses.every((c) => (c.entity === 'tag' ? untagged(c) : compare(m.name, c))),
      );
      const offset = offsetOf(query.page_token);
      const page = kept.slice(offset, offset + query.max_results);
      const versions = await versionsOf(
        ctx.db,
        page.map((m) => m.id),
      );
      return {
        json: {
          registered_models: page.map((m) => registeredModelJson(m, versions.get(m.id) ?? [])),
          next_page_token: tokenAfter(offset, query.max_results, kept.length),
        },
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/registered-models/get-latest-versions`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetLatestVersions: Anneal has no stages, so the latest version (stage None)',
    body: z.object({ name: z.string(), stages: z.array(z.string()).optional() }),
    response: { status: 200, description: '{model_versions}' },
    handle: async (ctx, { body }) => {
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      const versions = (await versionsOf(ctx.db, [model.id])).get(model.id) ?? [];
      const latest = versions.at(-1);
      const wantsNone = !body.stages?.length || body.stages.some((s) => s.toLowerCase() === 'none');
      return {
        json: { model_versions: latest && wantsNone ? [modelVersionJson(latest)] : [] },
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/model-versions/create`,
    access: EDITOR,
    tag: TAG,
    summary: "MLflow CreateModelVersion: a version from a run's artifacts, READY at once",
    body: z.object({
      name: z.string(),
      source: z.string().max(2000),
      run_id: z.string().optional(),
      tags: z.array(tag).optional(),
      run_link: z.string().optional(),
      description: z.string().max(2000).optional(),
      model_id: z.string().optional(),
    }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { body }) => {
      // The ids first: another organization's run is not found, whatever else is wrong.
      if (body.run_id) await runOf(ctx.db, ctx.principal.orgId, body.run_id);
      if (body.model_id) await loggedModelOf(ctx.db, ctx.principal.orgId, body.model_id);
      const pending =
        (await modelsNamed(ctx.db, ctx.principal.orgId, body.name)).length === 0
          ? await pendingOf(ctx.db, ctx.principal.orgId, body.name)
          : undefined;
      if (pending) {
        // The first version binds a pending model to its run's project.
        const source = await parseSource(ctx.db, ctx.principal.orgId, body.source);
        if (body.run_id && body.run_id !== source.runId)
          throw invalid(
            `source: names run ${source.runId}, but run_id is ${body.run_id}; Anneal records one source run`,
          );
        const run = await runOf(ctx.db, ctx.principal.orgId, source.runId);
        // Checked before the model is bound, so a refused version leaves no model behind.
        await writableRun(ctx.db, ctx.principal.orgId, run.id);
        await writableProject(ctx.db, ctx.principal.orgId, run.projectId);
        await ctx.db
          .insert(registeredModels)
          .values({
            projectId: run.projectId,
            name: pending.name,
            description: pending.description,
          })
          .onConflictDoNothing();
        await ctx.db
          .delete(mlflowPendingModels)
          .where(
            and(
              eq(mlflowPendingModels.orgId, ctx.principal.orgId),
              eq(mlflowPendingModels.name, pending.name),
            ),
          );
      }
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      const source = await parseSource(ctx.db, ctx.principal.orgId, body.source);
      if (body.run_id && body.run_id !== source.runId)
        throw invalid(
          `source: names run ${source.runId}, but run_id is ${body.run_id}; Anneal records one source run`,
        );
      const run = await runOf(ctx.db, ctx.principal.orgId, source.runId);
      if (run.projectId !== model.projectId)
        throw invalid(
          `run_id: run ${run.id} belongs to another project than registered model "${model.name}"`,
        );
      const created = await registerVersion(
        ctx.db,
        ctx.principal.orgId,
        model.projectId,
        model.name,
        {
          sourceRunId: run.id,
          artifactPath: source.path,
          description: body.description ?? '',
          metadata: {},
          aliases: [],
        },
      );
      const { version } = await versionOf(
        ctx.db,
        ctx.principal.orgId,
        model.name,
        String(created.version),
      );
      return { json: { model_version: modelVersionJson(version) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/model-versions/get`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetModelVersion',
    query: z.object({ name: z.string(), version: z.string() }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { query }) => ({
      json: {
        model_version: modelVersionJson(
          (await versionOf(ctx.db, ctx.principal.orgId, query.name, query.version)).version,
        ),
      },
    }),
  }),
  defineRoute({
    method: 'PATCH',
    path: `${P}/model-versions/update`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow UpdateModelVersion: the description',
    body: z.object({
      name: z.string(),
      version: z.union([z.string(), z.number()]).transform(String),
      description: z.string().max(2000).optional(),
    }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { body }) => {
      const { model, version } = await versionOf(
        ctx.db,
        ctx.principal.orgId,
        body.name,
        body.version,
      );
      await ctx.db
        .update(modelVersions)
        .set({ description: body.description ?? '' })
        .where(
          and(eq(modelVersions.modelId, model.id), eq(modelVersions.version, version.version)),
        );
      const updated = await versionOf(ctx.db, ctx.principal.orgId, body.name, body.version);
      return { json: { model_version: modelVersionJson(updated.version) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/model-versions/search`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow SearchModelVersions: filter on name, run_id, source_path; pages',
    query: z.object({
      filter: z.string().max(10_000).optional(),
      max_results: maxResults(10_000),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{model_versions, next_page_token}' },
    handle: async (ctx, { query }) => {
      const clauses = parseFilter(query.filter);
      const projects = await listProjects(ctx.db, ctx.principal.orgId);
      const models = await modelsOfProjects(
        ctx.db,
        projects.map((p) => p.id),
      );
      const byModel = await versionsOf(
        ctx.db,
        models.map((m) => m.id),
      );
      const all = [...byModel.values()].flat().map(modelVersionJson);
      const value = (v: (typeof all)[number], c: Clause) => {
        if (c.entity !== 'attribute')
          throw invalid(
            `filter: model versions are searched by name, run_id, source_path or version_number`,
          );
        switch (c.key) {
          case 'name':
            return v.name;
          case 'run_id':
            return v.run_id;
          case 'source_path':
            return v.source;
          case 'version_number':
            return Number(v.version);
          default:
            throw invalid(`filter: model versions have no attribute "${c.key}"`);
        }
      };
      const kept = all
        .filter((v) =>
          clauses.every((c) => (c.entity === 'tag' ? untagged(c) : compare(value(v, c), c))),
        )
        .sort((a, b) => a.name.localeCompare(b.name) || Number(b.version) - Number(a.version));
      const offset = offsetOf(query.page_token);
      return {
        json: {
          model_versions: kept.slice(offset, offset + query.max_results),
          next_page_token: tokenAfter(offset, query.max_results, kept.length),
        },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/model-versions/get-download-uri`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetModelVersionDownloadUri: where the version’s files are served',
    query: z.object({ name: z.string(), version: z.string() }),
    response: { status: 200, description: '{artifact_uri}' },
    handle: async (ctx, { query }) => {
      const { version } = await versionOf(ctx.db, ctx.principal.orgId, query.name, query.version);
      return { json: { artifact_uri: modelVersionJson(version).source } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/registered-models/alias`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow SetRegisteredModelAlias',
    body: z.object({
      name: z.string(),
      alias: z.string(),
      version: z.union([z.string(), z.number()]).transform(String),
    }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const alias = checkAlias(body.alias);
      const { model, version } = await versionOf(
        ctx.db,
        ctx.principal.orgId,
        body.name,
        body.version,
      );
      await setAlias(
        ctx.db,
        ctx.principal.orgId,
        model.projectId,
        model.name,
        alias,
        version.version,
      );
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${P}/registered-models/alias`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow DeleteRegisteredModelAlias',
    body: z.object({ name: z.string(), alias: z.string() }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      await removeAlias(ctx.db, ctx.principal.orgId, model.projectId, model.name, body.alias);
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/registered-models/alias`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetModelVersionByAlias',
    query: z.object({ name: z.string(), alias: z.string() }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { query }) => ({
      json: {
        model_version: modelVersionJson(
          (await versionByAlias(ctx.db, ctx.principal.orgId, query.name, query.alias)).version,
        ),
      },
    }),
  }),
];

async function modelsOfProjects(db: Db, projectIds: string[]) {
  if (projectIds.length === 0) return [];
  return db
    .select()
    .from(registeredModels)
    .where(inArray(registeredModels.projectId, projectIds))
    .orderBy(asc(registeredModels.name), asc(registeredModels.id));
}
