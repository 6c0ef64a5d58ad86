import { AppError } from '@anneal/core';
import { generateParamsSchema } from '@anneal/protocol';
import { z } from 'zod';
import { SHA256_RE } from '../../domain/artifacts/blob-store.ts';
import {
  alertingSchema,
  listAlerts,
  setAlerting,
  setAlertStatus,
} from '../../domain/deployments/alerts.ts';
import {
  createDeployment,
  createDeploymentInput,
  deploymentHasImage,
  deploymentView,
  getDeploymentRow,
  listDeployments,
  setProbeConfig,
  stopDeployment,
} from '../../domain/deployments/deployments.ts';
import { probeConfigSchema } from '../../domain/deployments/probes.ts';
import { getProject } from '../../domain/projects/projects.ts';
import {
  alertOutput,
  alertView,
  deploymentDetail,
  deploymentOutput,
  detailOutput,
  generate,
  generatedOutput,
  generatedView,
  probeNow,
  probeOutput,
  probesOf,
  recentRequests,
  requestOutput,
} from '../../serving/views.ts';
import { defineRoute } from '../route.ts';

const deploymentId = z.object({ deploymentId: z.uuid() });

export const deploymentRoutes = [
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/deployments',
    access: { role: 'editor', agent: 'none' },
    tag: 'deployments',
    summary:
      'Deploy a registered model version (pinned, or following an alias) to agents that serve',
    params: z.object({ projectId: z.uuid() }),
    body: createDeploymentInput,
    response: { status: 201, description: 'The deployment', schema: deploymentOutput },
    handle: async (ctx, { params, body }) => {
      const row = await createDeployment(ctx.db, ctx.principal, params.projectId, body);
      void ctx.serving?.reconcile();
      return { status: 201, json: await deploymentView(ctx.db, row) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/deployments',
    access: { role: 'viewer', agent: 'none' },
    tag: 'deployments',
    summary: 'List a project’s deployments, newest first',
    params: z.object({ projectId: z.uuid() }),
    response: {
      status: 200,
      description: 'Deployments',
      schema: z.object({ deployments: z.array(deploymentOutput) }),
    },
    handle: async (ctx, { params }) => ({
      json: { deployments: await listDeployments(ctx.db, ctx.principal.orgId, params.projectId) },
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/deployments/{deploymentId}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'deployments',
    summary:
      'Read a deployment: its replicas, and latency (p50/p95/p99), throughput and errors over the last hour',
    params: deploymentId,
    response: { status: 200, description: 'The deployment', schema: detailOutput },
    handle: async (ctx, { params }) => ({
      json: await deploymentDetail(ctx, ctx.principal.orgId, params.deploymentId),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/deployments/{deploymentId}/stop',
    access: { role: 'editor', agent: 'none' },
    tag: 'deployments',
    summary: 'Stop a deployment: its replicas unload, queued requests fail',
    params: deploymentId,
    response: { status: 200, description: 'The deployment', schema: deploymentOutput },
    handle: async (ctx, { params }) => {
      const row = await stopDeployment(ctx.db, ctx.principal.orgId, params.deploymentId);
      await ctx.serving?.reconcile();
      if (!row)
        throw new AppError('NOT_FOUND', `deploymentId: no deployment ${params.deploymentId}`);
      return { json: await deploymentView(ctx.db, row) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/deployments/{deploymentId}/generate',
    access: { role: 'editor', agent: 'none' },
    tag: 'deployments',
    summary:
      'Generate images: one PNG (n > 1: the images as a grid); X-Anneal-Request-Id, -Seed and -Model-Version say what answered. 429 with Retry-After when the queue is full, 503 when no replica answered',
    params: deploymentId,
    body: generateParamsSchema,
    response: { status: 200, description: 'The PNG', binary: true },
    handle: async (ctx, { params, body }) => {
      const o = await generate(ctx, ctx.principal.orgId, params.deploymentId, body);
      const png = o.grid ?? o.images[0];
      if (!png) throw new AppError('INTERNAL', 'the replica answered without images');
      const { stream, size } = await ctx.store.open(png.sha256);
      return {
        stream,
        size,
        contentType: 'image/png',
        headers: {
          'x-anneal-request-id': o.requestId,
          'x-anneal-seed': String(o.request.seed),
          'x-anneal-model-version': o.modelVersionId,
          'x-anneal-latency-ms': o.latencyMs.toFixed(1),
        },
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/deployments/{deploymentId}/generate/json',
    access: { role: 'editor', agent: 'none' },
    tag: 'deployments',
    summary:
      'Generate images and answer with their ids and URLs, the seed, the replica and the timings',
    params: deploymentId,
    body: generateParamsSchema,
    response: { status: 200, description: 'What was generated', schema: generatedOutput },
    handle: async (ctx, { params, body }) => ({
      json: generatedView(
        params.deploymentId,
        await generate(ctx, ctx.principal.orgId, params.deploymentId, body),
      ),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/deployments/{deploymentId}/probes',
    access: { role: 'editor', agent: 'none' },
    tag: 'deployments',
    summary:
      'Probe the deployment’s quality now: an evaluate job of the served version and sampling (FD, KID, precision/recall, class accuracy, with floors)',
    params: deploymentId,
    response: { status: 201, description: 'The queued probe', schema: probeOutput },
    handle: async (ctx, { params }) => ({
      status: 201,
      json: await probeNow(ctx, ctx.principal, params.deploymentId),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/deployments/{deploymentId}/probes',
    access: { role: 'viewer', agent: 'none' },
    tag: 'deployments',
    summary: 'The deployment’s quality probes, newest first: its quality time series',
    params: deploymentId,
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    response: {
      status: 200,
      description: 'Probes',
      schema: z.object({ probes: z.array(probeOutput) }),
    },
    handle: async (ctx, { params, query }) => ({
      json: { probes: await probesOf(ctx, ctx.principal.orgId, params.deploymentId, query.limit) },
    }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/deployments/{deploymentId}/probe',
    access: { role: 'editor', agent: 'none' },
    tag: 'deployments',
    summary: 'Set the probe schedule and size ({"every_s", "n"}), or null for on demand only',
    params: deploymentId,
    body: z.object({ probe: probeConfigSchema.nullable() }),
    response: { status: 200, description: 'The deployment', schema: deploymentOutput },
    handle: async (ctx, { params, body }) => ({
      json: await deploymentView(
        ctx.db,
        await setProbeConfig(ctx.db, ctx.principal.orgId, params.deploymentId, body.probe),
      ),
    }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/deployments/{deploymentId}/alerting',
    access: { role: 'editor', agent: 'none' },
    tag: 'deployments',
    summary:
      'Set the alert rules on the probes (relative to the baseline, z-score against a trailing window) and the webhook (signed with HMAC-SHA256), or null for none',
    params: deploymentId,
    body: z.object({ alerting: alertingSchema.nullable() }),
    response: { status: 200, description: 'The deployment', schema: deploymentOutput },
    handle: async (ctx, { params, body }) => {
      const row = await getDeploymentRow(ctx.db, ctx.principal.orgId, params.deploymentId);
      return { json: await deploymentView(ctx.db, await setAlerting(ctx.db, row, body.alerting)) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/alerts',
    access: { role: 'viewer', agent: 'none' },
    tag: 'deployments',
    summary: 'A project’s alerts, newest first, with their evidence and suggestion',
    params: z.object({ projectId: z.uuid() }),
    query: z.object({ deploymentId: z.uuid().optional() }),
    response: {
      status: 200,
      description: 'Alerts',
      schema: z.object({ alerts: z.array(alertOutput) }),
    },
    handle: async (ctx, { params, query }) => {
      await getProject(ctx.db, ctx.principal.orgId, params.projectId);
      if (query.deploymentId) {
        const d = await getDeploymentRow(ctx.db, ctx.principal.orgId, query.deploymentId);
        if (d.projectId !== params.projectId)
          throw new AppError(
            'NOT_FOUND',
            `deploymentId: no deployment ${query.deploymentId} in this project`,
          );
      }
      const rows = await listAlerts(
        ctx.db,
        ctx.principal.orgId,
        params.projectId,
        query.deploymentId,
      );
      return { json: { alerts: rows.map(alertView) } };
    },
  }),
  ...(['acknowledge', 'resolve'] as const).map((verb) =>
    defineRoute({
      method: 'POST',
      path: `/alerts/{alertId}/${verb}`,
      access: { role: 'editor', agent: 'none' },
      tag: 'deployments',
      summary: verb === 'acknowledge' ? 'Acknowledge an alert' : 'Resolve an alert',
      params: z.object({ alertId: z.uuid() }),
      response: { status: 200, description: 'The alert', schema: alertOutput },
      handle: async (ctx, { params }) => ({
        json: alertView(
          await setAlertStatus(
            ctx.db,
            ctx.principal,
            params.alertId,
            verb === 'acknowledge' ? 'acknowledged' : 'resolved',
          ),
        ),
      }),
    }),
  ),
  defineRoute({
    method: 'GET',
    path: '/deployments/{deploymentId}/requests',
    access: { role: 'viewer', agent: 'none' },
    tag: 'deployments',
    summary: 'The deployment’s recent requests, newest first (outcome, latency, images)',
    params: deploymentId,
    query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
    response: {
      status: 200,
      description: 'Requests',
      schema: z.object({ requests: z.array(requestOutput) }),
    },
    handle: async (ctx, { params, query }) => ({
      json: {
        requests: await recentRequests(ctx, ctx.principal.orgId, params.deploymentId, query.limit),
      },
    }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/deployments/{deploymentId}/images',
    access: { role: 'editor', agent: 'write-served-deployment' },
    tag: 'deployments',
    summary: 'Upload a generated image (raw PNG; agents hosting a replica of the deployment)',
    params: deploymentId,
    body: 'stream',
    bodyTypes: ['image/png'],
    response: {
      status: 201,
      description: 'The stored image',
      schema: z.object({ sha256: z.string(), size: z.number().int() }),
    },
    handle: async (ctx, { params, body }) => {
      await getDeploymentRow(ctx.db, ctx.principal.orgId, params.deploymentId);
      const expected = body.headers['x-anneal-sha256'];
      if (typeof expected !== 'string' || !SHA256_RE.test(expected))
        throw new AppError('BAD_REQUEST', 'X-Anneal-Sha256: not a sha256 hex digest');
      // Generated PNGs are small; a replica that sends more is refused.
      const stored = await ctx.store.put(body, 64 * 1024 * 1024, expected);
      return { status: 201, json: { sha256: stored.sha256, size: stored.size } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/deployments/{deploymentId}/images/{sha256}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'deployments',
    summary: 'Download an image the deployment generated',
    params: deploymentId.extend({ sha256: z.string().regex(SHA256_RE) }),
    response: { status: 200, description: 'The PNG', binary: true },
    handle: async (ctx, { params }) => {
      await getDeploymentRow(ctx.db, ctx.principal.orgId, params.deploymentId);
      if (!(await deploymentHasImage(ctx.db, params.deploymentId, params.sha256)))
        throw new AppError('NOT_FOUND', `sha256: deployment has no image ${params.sha256}`);
      const { stream, size } = await ctx.store.open(params.sha256);
      return {
        stream,
        size,
        contentType: 'image/png',
        filename: `${params.sha256.slice(0, 12)}.png`,
      };
    },
  }),
];
