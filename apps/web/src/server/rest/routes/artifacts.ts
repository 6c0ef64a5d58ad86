import { AppError } from '@anneal/core';
import { z } from 'zod';
import { findArtifact, listArtifacts, uploadArtifact } from '../../domain/artifacts/artifacts.ts';
import { SHA256_RE } from '../../domain/artifacts/blob-store.ts';
import { defineRoute } from '../route.ts';

const target = z.object({ runId: z.uuid(), path: z.string().min(1) });
const artifact = z.object({
  path: z.string(),
  sha256: z.string(),
  size: z.number(),
  contentType: z.string(),
});

export const artifactRoutes = [
  defineRoute({
    method: 'PUT',
    path: '/runs/{runId}/artifacts/{path*}',
    access: { role: 'editor', agent: 'write-leased-run' },
    tag: 'artifacts',
    summary: 'Upload an artifact (raw body); stored content-addressed by sha256',
    params: target,
    body: 'stream',
    bodyTypes: ['application/octet-stream'],
    response: { status: 201, description: 'The stored artifact', schema: artifact },
    handle: async (ctx, { params, body }) => {
      const expected = body.headers['x-anneal-sha256'];
      if (expected !== undefined && (typeof expected !== 'string' || !SHA256_RE.test(expected)))
        throw new AppError('BAD_REQUEST', 'X-Anneal-Sha256: not a sha256 hex digest');
      const stored = await uploadArtifact(
        ctx.db,
        ctx.store,
        ctx.principal.orgId,
        params.runId,
        params.path,
        body,
        ctx.config.uploadLimit,
        expected,
      );
      ctx.events.emit({ type: 'artifacts', runId: params.runId });
      return { status: 201, json: stored };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/runs/{runId}/artifacts',
    access: { role: 'viewer', agent: 'read-leased-run' },
    tag: 'artifacts',
    summary: 'List a run’s artifacts',
    params: z.object({ runId: z.uuid() }),
    response: {
      status: 200,
      description: 'Artifacts',
      schema: z.object({ artifacts: z.array(artifact.extend({ createdAt: z.iso.datetime() })) }),
    },
    handle: async (ctx, { params }) => ({
      json: { artifacts: await listArtifacts(ctx.db, ctx.principal.orgId, params.runId) },
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/runs/{runId}/artifacts/{path*}',
    access: { role: 'viewer', agent: 'read-leased-run' },
    tag: 'artifacts',
    summary: 'Download an artifact',
    params: target,
    response: { status: 200, description: 'The bytes', binary: true },
    handle: async (ctx, { params }) => {
      const row = await findArtifact(ctx.db, ctx.principal.orgId, params.runId, params.path);
      const { stream, size } = await ctx.store.open(row.sha256);
      return { stream, size, contentType: row.contentType, filename: row.path.split('/').pop() };
    },
  }),
];
