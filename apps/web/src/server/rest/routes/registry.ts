import { learnedScheduleSchema } from '@anneal/engine/config';
import { aliasSchema, INT4_MAX, modelNameSchema } from '@anneal/protocol';
import { z } from 'zod';
import { writableProject } from '../../domain/projects/projects.ts';
import {
  addLearnedSchedule,
  getModelVersion,
  listModels,
  readModel,
  registerVersion,
  registerVersionInput,
  removeAlias,
  setAlias,
} from '../../domain/registry/registry.ts';
import { defineRoute } from '../route.ts';

const model = z.object({ projectId: z.uuid(), name: modelNameSchema });
const alias = model.extend({ alias: aliasSchema });

/** Optimization metadata as stored: the registered fields, and evaluations added by jobs. */
const metadata = z.record(z.string(), z.unknown());

const modelVersion = z.object({
  id: z.uuid(),
  modelId: z.uuid(),
  modelName: z.string(),
  projectId: z.uuid(),
  version: z.number().int(),
  sourceRunId: z.uuid().nullable(),
  artifactPath: z.string().nullable(),
  metadata,
  createdAt: z.iso.datetime(),
});

const modelList = z.object({
  models: z.array(
    z.object({
      id: z.uuid(),
      name: z.string(),
      description: z.string(),
      createdAt: z.iso.datetime(),
      latestVersion: z.number().int().nullable(),
      aliases: z.array(z.object({ alias: z.string(), version: z.number().int() })),
    }),
  ),
});

const modelDetail = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  createdAt: z.iso.datetime(),
  versions: z.array(
    z.object({
      id: z.uuid(),
      version: z.number().int(),
      description: z.string(),
      metadata,
      artifactPath: z.string().nullable(),
      createdAt: z.iso.datetime(),
      sourceRun: z.object({ id: z.uuid(), name: z.string(), status: z.string() }).nullable(),
      datasetVersion: z
        .object({
          id: z.uuid(),
          version: z.number().int(),
          contentHash: z.string(),
          datasetName: z.string(),
        })
        .nullable(),
      aliases: z.array(z.string()),
    }),
  ),
});

export const registryRoutes = [
  defineRoute({
    method: 'GET',
    path: '/model-versions/{versionId}',
    access: { role: 'viewer', agent: 'read-leased-model-version' },
    tag: 'registry',
    summary:
      'Read one model version by id: its model, source run, checkpoint path and metadata (evaluations included)',
    params: z.object({ versionId: z.uuid() }),
    response: { status: 200, description: 'The version', schema: modelVersion },
    handle: async (ctx, { params }) => ({
      json: await getModelVersion(ctx.db, ctx.principal.orgId, params.versionId),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/model-versions/{versionId}/schedules',
    // People and API tokens only (anneal schedule learn uses the person's token). No job posts
    // schedules yet; a grant for agents belongs with the job that will, limited to its version.
    access: { role: 'editor', agent: 'none' },
    tag: 'registry',
    summary:
      'Store a learned sampling schedule on a model version (anneal schedule learn); one per sampler and NFE, a newer one replaces the older',
    params: z.object({ versionId: z.uuid() }),
    body: learnedScheduleSchema,
    response: { status: 201, description: 'The stored schedule', schema: learnedScheduleSchema },
    handle: async (ctx, { params, body }) => {
      const version = await getModelVersion(ctx.db, ctx.principal.orgId, params.versionId);
      await writableProject(ctx.db, ctx.principal.orgId, version.projectId);
      return { status: 201, json: await addLearnedSchedule(ctx.db, params.versionId, body) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/models',
    access: { role: 'viewer', agent: 'none' },
    tag: 'registry',
    summary: 'List registered models with their latest version and aliases',
    params: z.object({ projectId: z.uuid() }),
    response: { status: 200, description: 'Models', schema: modelList },
    handle: async (ctx, { params }) => ({
      json: { models: await listModels(ctx.db, ctx.principal.orgId, params.projectId) },
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/models/{name}/versions',
    access: { role: 'editor', agent: 'none' },
    tag: 'registry',
    summary: 'Register a new version (creates the model on first use) with optimization metadata',
    params: model,
    body: registerVersionInput,
    response: {
      status: 201,
      description: 'The version',
      schema: z.object({ modelId: z.uuid(), name: z.string(), version: z.number(), id: z.uuid() }),
    },
    handle: async (ctx, { params, body }) => ({
      status: 201,
      json: await registerVersion(ctx.db, ctx.principal.orgId, params.projectId, params.name, body),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/models/{name}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'registry',
    summary: 'Read a model: versions, aliases, lineage to runs and dataset versions',
    params: model,
    response: { status: 200, description: 'The model', schema: modelDetail },
    handle: async (ctx, { params }) => ({
      json: await readModel(ctx.db, ctx.principal.orgId, params.projectId, params.name),
    }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/projects/{projectId}/models/{name}/aliases/{alias}',
    access: { role: 'editor', agent: 'none' },
    tag: 'registry',
    summary: 'Point an alias (production, staging, ...) at a version',
    params: alias,
    body: z.object({ version: z.number().int().positive().max(INT4_MAX) }),
    response: {
      status: 200,
      description: 'The alias',
      schema: z.object({ alias: z.string(), version: z.number() }),
    },
    handle: async (ctx, { params, body }) => ({
      json: await setAlias(
        ctx.db,
        ctx.principal.orgId,
        params.projectId,
        params.name,
        params.alias,
        body.version,
      ),
    }),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/projects/{projectId}/models/{name}/aliases/{alias}',
    access: { role: 'editor', agent: 'none' },
    tag: 'registry',
    summary: 'Remove an alias',
    params: alias,
    response: { status: 204, description: 'Removed' },
    handle: async (ctx, { params }) => {
      await removeAlias(ctx.db, ctx.principal.orgId, params.projectId, params.name, params.alias);
      return { status: 204, json: null };
    },
  }),
];
