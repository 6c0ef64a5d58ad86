import { generateParamsSchema } from '@anneal/protocol';
import { z } from 'zod';
import { listAlerts, setAlertStatus } from '../../domain/deployments/alerts.ts';
import {
  createDeployment,
  deploymentFields,
  deploymentView,
  getDeploymentRow,
  listDeployments,
  oneTarget,
  stopDeployment,
} from '../../domain/deployments/deployments.ts';
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
import { editorProcedure, router, viewerProcedure } from '../../trpc/init.ts';

const project = z.object({ projectId: z.uuid() });
const deployment = z.object({ deploymentId: z.uuid() });

export const deploymentsRouter = router({
  list: viewerProcedure
    .input(project)
    .output(z.array(deploymentOutput))
    .query(({ ctx, input }) => listDeployments(ctx.db, ctx.principal.orgId, input.projectId)),
  get: viewerProcedure
    .input(deployment)
    .output(detailOutput)
    .query(({ ctx, input }) => deploymentDetail(ctx, ctx.principal.orgId, input.deploymentId)),
  requests: viewerProcedure
    .input(deployment.extend({ limit: z.number().int().min(1).max(500).default(20) }))
    .output(z.array(requestOutput))
    .query(({ ctx, input }) =>
      recentRequests(ctx, ctx.principal.orgId, input.deploymentId, input.limit),
    ),
  probes: viewerProcedure
    .input(deployment)
    .output(z.array(probeOutput))
    .query(({ ctx, input }) => probesOf(ctx, ctx.principal.orgId, input.deploymentId, 50)),
  probe: editorProcedure
    .input(deployment)
    .output(probeOutput)
    .mutation(({ ctx, input }) => probeNow(ctx, ctx.principal, input.deploymentId)),
  alerts: viewerProcedure
    .input(deployment)
    .output(z.array(alertOutput))
    .query(async ({ ctx, input }) => {
      const row = await getDeploymentRow(ctx.db, ctx.principal.orgId, input.deploymentId);
      return (await listAlerts(ctx.db, ctx.principal.orgId, row.projectId, row.id)).map(alertView);
    }),
  setAlertStatus: editorProcedure
    .input(z.object({ alertId: z.uuid(), status: z.enum(['acknowledged', 'resolved']) }))
    .output(alertOutput)
    .mutation(async ({ ctx, input }) =>
      alertView(await setAlertStatus(ctx.db, ctx.principal, input.alertId, input.status)),
    ),
  create: editorProcedure
    .input(deploymentFields.extend(project.shape).refine(...oneTarget))
    .output(deploymentOutput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...body } = input;
      const row = await createDeployment(ctx.db, ctx.principal, projectId, body);
      void ctx.serving?.reconcile();
      return deploymentView(ctx.db, row);
    }),
  stop: editorProcedure
    .input(deployment)
    .output(deploymentOutput)
    .mutation(async ({ ctx, input }) => {
      const row = await stopDeployment(ctx.db, ctx.principal.orgId, input.deploymentId);
      await ctx.serving?.reconcile();
      return deploymentView(ctx.db, row as NonNullable<typeof row>);
    }),
  generate: editorProcedure
    .input(deployment.extend({ params: generateParamsSchema }))
    .output(generatedOutput)
    .mutation(async ({ ctx, input }) =>
      generatedView(
        input.deploymentId,
        await generate(ctx, ctx.principal.orgId, input.deploymentId, input.params),
      ),
    ),
});
