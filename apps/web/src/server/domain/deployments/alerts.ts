// Alerts of deployments: after each probe, the deployment's rules (rules.ts) are judged against
// its baseline and trailing window; a breach raises an alert (or updates the open one for the
// same rule), with the evidence, a re-optimization suggestion computed from the registry, and a
// webhook delivery signed with HMAC-SHA256 and retried.
import { createHmac, randomUUID } from 'node:crypto';
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import {
  alerts,
  deploymentProbes,
  deployments,
  jobs,
  modelVersions,
  projects,
} from '@anneal/db/schema';
import { and, desc, eq, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { dueIn } from './deliveries.ts';
import { alertRuleSchema, type Breach, breaches, type ProbePoint } from './rules.ts';

export const alertingSchema = z
  .object({
    rules: z.array(alertRuleSchema).max(20),
    webhook: z
      .object({
        url: z.url({ protocol: /^https?$/ }),
        /** The HMAC-SHA256 key; kept on the server, never returned. */
        secret: z.string().min(16).max(200),
      })
      .strict()
      .optional(),
  })
  .strict();
export type AlertingInput = z.infer<typeof alertingSchema>;

type Deployment = typeof deployments.$inferSelect;
type Probe = typeof deploymentProbes.$inferSelect;
type Alert = typeof alerts.$inferSelect;

const point = (p: Probe): ProbePoint => ({
  id: p.id,
  modelVersionId: p.modelVersionId,
  metrics: p.metrics,
});

/** Sets a deployment's rules and webhook (the secret is stored, never read back). */
export async function setAlerting(db: Db, d: Deployment, input: AlertingInput | null) {
  const [row] = await db
    .update(deployments)
    .set({
      alerting: input
        ? { rules: input.rules, ...(input.webhook ? { webhook: { url: input.webhook.url } } : {}) }
        : null,
      webhookSecret: input?.webhook?.secret ?? null,
      updatedAt: new Date(),
    })
    .where(eq(deployments.id, d.id))
    .returning();
  return row as Deployment;
}

/** The steps a probe's job sampled with (its evaluate spec). */
async function probeSampling(db: Db, probe: Probe) {
  if (!probe.jobId) return {};
  const [job] = await db.select({ spec: jobs.spec }).from(jobs).where(eq(jobs.id, probe.jobId));
  const spec = (job?.spec ?? {}) as { sampler?: string; steps?: number };
  return { sampler: spec.sampler, steps: spec.steps };
}

/**
 * What to do about a breach, from the registry: a probe of another version than the baseline's
 * suggests rolling the alias (or the pin) back; fewer steps than the baseline's, serving its
 * steps again; else (same version, same sampling) retraining or re-distilling on newer data.
 */
export async function suggestionFor(db: Db, d: Deployment, probe: Probe, baseline: Probe) {
  const version = async (id: string) =>
    (
      await db
        .select({ version: modelVersions.version })
        .from(modelVersions)
        .where(eq(modelVersions.id, id))
    )[0]?.version;
  const base = point(baseline).metrics.fd;
  if (probe.modelVersionId !== baseline.modelVersionId) {
    const [now, then] = [
      await version(probe.modelVersionId),
      await version(baseline.modelVersionId),
    ];
    return {
      action: 'rollback',
      version: then ?? null,
      text: `${d.alias ? `point the alias ${d.alias} back at` : 'deploy'} version ${then} (the baseline's${base !== undefined ? `, FD ${base.toPrecision(3)}` : ''}); version ${now} serves now`,
    };
  }
  const [served, was] = [await probeSampling(db, probe), await probeSampling(db, baseline)];
  if (served.steps !== undefined && was.steps !== undefined && served.steps < was.steps)
    return {
      action: 'more_steps',
      steps: was.steps,
      text: `serve with ${was.steps} ${was.sampler ?? ''} steps again, as at the baseline (now ${served.steps})`,
    };
  return {
    action: 'retrain',
    text: 'the version and sampling are the baseline’s: retrain, or re-distill from the teacher, on the latest dataset version',
  };
}

/**
 * Judges a settled probe against the deployment's rules: the first probe that succeeds becomes
 * the baseline; a breach raises an alert, or updates the open one with the same rule key.
 * Returns the alerts raised (new ones, to deliver).
 */
export async function judgeProbe(db: Db, probe: Probe): Promise<Alert[]> {
  if (probe.status !== 'succeeded') return [];
  const [d] = await db.select().from(deployments).where(eq(deployments.id, probe.deploymentId));
  if (!d) return [];
  if (!d.baselineProbeId) {
    await db.update(deployments).set({ baselineProbeId: probe.id }).where(eq(deployments.id, d.id));
    return [];
  }
  const rules = z.array(alertRuleSchema).safeParse((d.alerting as { rules?: unknown })?.rules);
  if (!rules.success || rules.data.length === 0) return [];
  const [baseline] = await db
    .select()
    .from(deploymentProbes)
    .where(eq(deploymentProbes.id, d.baselineProbeId));
  const before = await db
    .select()
    .from(deploymentProbes)
    .where(
      and(
        eq(deploymentProbes.deploymentId, d.id),
        eq(deploymentProbes.status, 'succeeded'),
        ne(deploymentProbes.id, probe.id),
      ),
    )
    .orderBy(desc(deploymentProbes.createdAt))
    .limit(100);
  const found = breaches(
    rules.data,
    point(probe),
    baseline ? point(baseline) : null,
    before.map(point),
  );
  const raised: Alert[] = [];
  for (const b of found) {
    const alert = await raise(db, d, probe, baseline ?? null, b);
    if (alert) raised.push(alert);
  }
  return raised;
}

async function raise(
  db: Db,
  d: Deployment,
  probe: Probe,
  baseline: Probe | null,
  b: Breach,
): Promise<Alert | null> {
  const [open] = await db
    .select()
    .from(alerts)
    .where(
      and(eq(alerts.deploymentId, d.id), eq(alerts.ruleKey, b.key), ne(alerts.status, 'resolved')),
    );
  const message = `${d.name}: ${b.message}`;
  if (open) {
    // De-duplicated: the open alert carries the latest evidence; nothing is sent again.
    await db
      .update(alerts)
      .set({ message, evidence: b.evidence, severity: b.severity, updatedAt: new Date() })
      .where(eq(alerts.id, open.id));
    return null;
  }
  const [row] = await db
    .insert(alerts)
    .values({
      projectId: d.projectId,
      runId: probe.runId,
      deploymentId: d.id,
      ruleKey: b.key,
      severity: b.severity,
      message,
      evidence: b.evidence,
      suggestion: baseline ? await suggestionFor(db, d, probe, baseline) : null,
      // Due at once where a webhook is set; the monitor's passes deliver it (deliveries.ts).
      delivery: (d.alerting as { webhook?: unknown } | null)?.webhook
        ? sql`jsonb_build_object('id', ${randomUUID()}::text, 'attempts', 0, 'nextAt', ${dueIn(0)})`
        : {},
    })
    .returning();
  return row ?? null;
}

/** The body a webhook receives, and its signature header (`sha256=` + hex HMAC of the body). */
export function signedDelivery(alert: Alert, secret: string) {
  const body = JSON.stringify({
    type: 'alert',
    alert: {
      id: alert.id,
      deploymentId: alert.deploymentId,
      severity: alert.severity,
      status: alert.status,
      message: alert.message,
      evidence: alert.evidence,
      suggestion: alert.suggestion,
      createdAt: alert.createdAt.toISOString(),
    },
  });
  return { body, signature: `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` };
}

/** Acknowledge or resolve an alert of the organization. */
export async function setAlertStatus(
  db: Db,
  caller: { orgId: string; userId: string },
  alertId: string,
  status: 'acknowledged' | 'resolved',
) {
  const [found] = await db
    .select({ alert: alerts })
    .from(alerts)
    .innerJoin(projects, eq(projects.id, alerts.projectId))
    .where(and(eq(alerts.id, alertId), eq(projects.orgId, caller.orgId)));
  if (!found) throw new AppError('NOT_FOUND', `alertId: no alert ${alertId}`);
  if (found.alert.status === 'resolved')
    throw new AppError('CONFLICT', `alert ${alertId} is already resolved`);
  const now = new Date();
  const [row] = await db
    .update(alerts)
    .set(
      status === 'acknowledged'
        ? { status, acknowledgedAt: now, acknowledgedBy: caller.userId, updatedAt: now }
        : { status, resolvedAt: now, updatedAt: now },
    )
    .where(eq(alerts.id, alertId))
    .returning();
  return row as Alert;
}

export async function listAlerts(db: Db, orgId: string, projectId: string, deploymentId?: string) {
  const rows = await db
    .select({ alert: alerts })
    .from(alerts)
    .innerJoin(projects, eq(projects.id, alerts.projectId))
    .where(
      and(
        eq(alerts.projectId, projectId),
        eq(projects.orgId, orgId),
        ...(deploymentId ? [eq(alerts.deploymentId, deploymentId)] : []),
      ),
    )
    .orderBy(desc(alerts.createdAt))
    .limit(200);
  return rows.map((r) => r.alert);
}
