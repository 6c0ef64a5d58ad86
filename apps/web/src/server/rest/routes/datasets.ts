import { AppError } from '@anneal/core';
import { datasetManifestSchema } from '@anneal/datasets/hash';
import { z } from 'zod';
import { receiveDatasetUpload } from '../../domain/datasets/receive-upload.ts';
import {
  agentMayReadDatasetVersion,
  assertFileInVersion,
  createDatasetVersion,
  datasetNameSchema,
  getDatasetVersion,
  listDatasets,
  splitOptionsSchema,
} from '../../domain/datasets/versions.ts';
import { defineRoute, type RestContext } from '../route.ts';

/**
 * Agent tokens read a version only while a job leased to their agent trains on it: a
 * machine's token is not a key to every dataset of the organization.
 */
async function checkAgentRead(ctx: RestContext<'viewer'>, versionId: string): Promise<void> {
  if (ctx.principal.via !== 'agent') return;
  if (!(await agentMayReadDatasetVersion(ctx.db, ctx.principal.credentialId, versionId)))
    throw new AppError(
      'FORBIDDEN',
      `versionId: an agent token reads dataset version ${versionId} only while a job leased to its agent uses it`,
    );
}

const versionSummary = z.object({
  id: z.uuid(),
  version: z.number(),
  contentHash: z.string(),
  fileCount: z.number(),
  sizeBytes: z.number(),
  heldoutCount: z.number(),
  dvcMd5: z.string(),
  createdAt: z.iso.datetime(),
});

const datasetList = z.object({
  builtin: z.array(
    z.object({
      builtin: z.string(),
      name: z.string(),
      description: z.string(),
      fileCount: z.number().int(),
      heldOut: z.number().int(),
      labels: z.array(z.string()),
      channels: z.number().int(),
      resolution: z.string().describe('The resolutions it is generated at, in words'),
    }),
  ),
  stored: z.array(
    z.object({
      id: z.uuid(),
      name: z.string(),
      description: z.string(),
      createdAt: z.iso.datetime(),
      versions: z.array(versionSummary),
    }),
  ),
});

const versionWithManifest = versionSummary.extend({
  datasetId: z.uuid(),
  datasetName: z.string(),
  projectId: z.uuid(),
  manifest: datasetManifestSchema,
});

export const datasetRoutes = [
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/datasets',
    access: 'viewer',
    tag: 'datasets',
    summary: 'List datasets: the built-ins (mnist, shapes) and stored ones with their versions',
    params: z.object({ projectId: z.uuid() }),
    response: {
      status: 200,
      description: 'The built-in datasets, then the stored ones with their versions',
      schema: datasetList,
    },
    handle: async (ctx, { params }) => ({
      json: await listDatasets(ctx.db, ctx.principal.orgId, params.projectId),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/datasets/{name}/versions',
    access: 'editor',
    tag: 'datasets',
    summary:
      'Create an immutable version by upload: a zip, or multipart files named by relative path. Folders name labels.',
    params: z.object({ projectId: z.uuid(), name: datasetNameSchema }),
    query: splitOptionsSchema,
    body: 'stream',
    bodyTypes: ['application/zip', 'multipart/form-data'],
    response: {
      status: 201,
      description: 'The version (200 with created=false when identical to the latest)',
      schema: versionSummary.extend({
        created: z.boolean(),
        datasetId: z.uuid(),
        ignored: z.array(z.string()),
      }),
    },
    handle: async (ctx, { params, query, body }) => {
      const files = await receiveDatasetUpload(body, ctx.store, ctx.config.uploadLimit);
      const version = await createDatasetVersion(
        ctx.db,
        ctx.principal.orgId,
        ctx.principal.userId,
        params.projectId,
        params.name,
        files,
        query,
      );
      return { status: version.created ? 201 : 200, json: version };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/dataset-versions/{versionId}',
    access: 'viewer',
    tag: 'datasets',
    summary: 'Read a version and its manifest (files, sha256, md5, labels, held-out split)',
    params: z.object({ versionId: z.uuid() }),
    response: {
      status: 200,
      description: 'The version with its manifest',
      schema: versionWithManifest,
    },
    handle: async (ctx, { params }) => {
      const json = await getDatasetVersion(ctx.db, ctx.principal.orgId, params.versionId);
      await checkAgentRead(ctx, params.versionId);
      return { json };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/dataset-versions/{versionId}/files/{sha256}',
    access: 'viewer',
    tag: 'datasets',
    summary: 'Fetch one file of a version by its sha256',
    params: z.object({ versionId: z.uuid(), sha256: z.string().regex(/^[a-f0-9]{64}$/) }),
    response: { status: 200, description: 'The bytes', binary: true },
    handle: async (ctx, { params }) => {
      const file = await assertFileInVersion(
        ctx.db,
        ctx.principal.orgId,
        params.versionId,
        params.sha256,
      );
      await checkAgentRead(ctx, params.versionId);
      const { stream, size } = await ctx.store.open(params.sha256);
      return {
        stream,
        size,
        contentType: 'application/octet-stream',
        filename: file.relpath.split('/').pop(),
      };
    },
  }),
];
