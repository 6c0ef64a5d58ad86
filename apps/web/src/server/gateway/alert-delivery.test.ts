import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { alerts } from '@anneal/db/schema';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  attemptDelivery,
  claimDueDeliveries,
  type DeliveryState,
} from '../domain/deployments/deliveries.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// Webhook deliveries survive a server restart: an alert whose first attempt failed is
// delivered by the restarted server when its backoff is over, with the same delivery id, and
// no attempt is made twice. The alert is written as a probe's breach writes it (no agent and
// no probe run here: deployments.test.ts raises one for real).

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
const hooks: { headers: IncomingHttpHeaders; body: string }[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    hooks.push({ headers: req.headers, body });
    res.writeHead(hooks.length === 1 ? 503 : 200).end();
  });
});

async function until<T>(what: string, probe: () => Promise<T | null | false>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '1000', ANNEAL_WEBHOOK_BACKOFF_MS: '3000' });
  owner = await h.user('hook-org', 'owner');
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
}, 60_000);

afterAll(async () => {
  receiver.close();
  await h?.stop();
});

/**
 * A deployment of a one-version model in a new project, alerting on FD to a webhook at
 * `url`, made through the REST API as `token`; returns the project's and deployment's ids.
 */
async function deploymentWithWebhook(
  harness: Harness,
  token: string,
  project: string,
  url: string,
  secret: string,
) {
  const ok = async (method: string, path: string, body?: unknown, headers = {}) => {
    const res = await harness.api(token, method, path, body, headers);
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.json)}`).toBeLessThan(300);
    return res.json;
  };
  const projectId = (await ok('POST', '/api/v1/projects', { name: project })).id;
  const runId = (await ok('POST', `/api/v1/projects/${projectId}/runs`, { name: 'r' })).id;
  await ok('PUT', `/api/v1/runs/${runId}/artifacts/model.safetensors`, 'weights', {
    'content-type': 'application/octet-stream',
  });
  await ok('POST', `/api/v1/projects/${projectId}/models/m/versions`, {
    sourceRunId: runId,
    artifactPath: 'model.safetensors',
  });
  const d = await ok('POST', `/api/v1/projects/${projectId}/deployments`, {
    name: 'd',
    model: 'm',
    version: 1,
  });
  await ok('PUT', `/api/v1/deployments/${d.id}/alerting`, {
    alerting: { rules: [{ metric: 'fd', relative: 0.5 }], webhook: { url, secret } },
  });
  return { projectId: projectId as string, deploymentId: d.id as string };
}

describe('alert webhooks', () => {
  it('are delivered after a server restart, once, with the same delivery id', async () => {
    const secret = 'a-webhook-secret-of-some-length';
    const port = (receiver.address() as AddressInfo).port;
    const { projectId, deploymentId } = await deploymentWithWebhook(
      h,
      owner.token,
      'hooks',
      `http://127.0.0.1:${port}/hook`,
      secret,
    );
    const [alert] = await h.services.db
      .insert(alerts)
      .values({
        projectId,
        deploymentId,
        ruleKey: 'fd:relative',
        severity: 'critical',
        message: 'd: FD 9.1 is 80% above the baseline 5.05 (threshold 50%)',
        delivery: { id: 'delivery-1', attempts: 0, nextAt: new Date().toISOString() },
      })
      .returning();
    const state = async () =>
      (
        await h.services.db
          .select()
          .from(alerts)
          .where(eq(alerts.id, alert?.id as string))
      )[0]?.delivery as {
        attempts?: number;
        nextAt?: string;
        deliveredAt?: string;
        error?: string;
      };
    // The first attempt fails (503); the next is due 3 s later.
    await until('the first attempt recorded', async () => (await state()).attempts === 1);
    expect(await state()).toMatchObject({ attempts: 1, error: 'HTTP 503' });
    await h.restart(200);
    const delivered = await until('delivered by the restarted server', async () => {
      const s = await state();
      return s.deliveredAt ? s : null;
    });
    expect(delivered).toMatchObject({ id: 'delivery-1', attempts: 2 });
    expect(delivered.nextAt).toBeUndefined();
    expect(hooks).toHaveLength(2);
    expect(hooks.map((x) => x.headers['x-anneal-delivery'])).toEqual(['delivery-1', 'delivery-1']);
    const last = hooks[1] as { headers: IncomingHttpHeaders; body: string };
    expect(last.headers['x-anneal-signature']).toBe(
      `sha256=${createHmac('sha256', secret).update(last.body).digest('hex')}`,
    );
    // Nothing more is sent once delivered.
    await new Promise((r) => setTimeout(r, 1500));
    expect(hooks).toHaveLength(2);
  }, 60_000);
});

describe('due deliveries', () => {
  // No gateway, so no serving router and no monitor pass claims them behind the test's back.
  let q: Harness;
  beforeAll(async () => {
    q = await startHarness({}, { gateway: false });
  }, 60_000);
  afterAll(async () => {
    vi.useRealTimers();
    await q?.stop();
  });

  it('are due by the database clock, oldest first, a bounded number per pass', async () => {
    const o = await q.user('due-org', 'owner');
    // A port nothing listens on: every attempt fails.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const { projectId, deploymentId } = await deploymentWithWebhook(
      q,
      o.token,
      'due',
      `http://127.0.0.1:${port}/hook`,
      'a-webhook-secret-of-length',
    );
    const db = q.services.db;
    const dbNow = async () => {
      const [row] = await db.execute<{ now: string | Date }>(sql`select now() as now`);
      return new Date(row?.now as string | Date).getTime();
    };
    const t0 = await dbNow();
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    const rows = await db
      .insert(alerts)
      .values(
        [at(-2000), at(-4000), at(3_600_000)].map((nextAt, i) => ({
          projectId,
          deploymentId,
          ruleKey: 'fd:relative',
          severity: 'critical' as const,
          message: `alert ${i}`,
          delivery: { id: `due-${i}`, attempts: 0, nextAt },
        })),
      )
      .returning();
    // This process's clock runs an hour ahead of the database's: nothing changes.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    const first = await claimDueDeliveries(db, { limit: 1 });
    expect(first.map((a) => a.message)).toEqual(['alert 1']);
    const second = await claimDueDeliveries(db, { limit: 1 });
    expect(second.map((a) => a.message)).toEqual(['alert 0']);
    // The hour-ahead alert is not due, and the claimed ones are held past the attempt's timeout.
    expect(await claimDueDeliveries(db, { limit: 10 })).toEqual([]);
    const held = second[0]?.delivery as DeliveryState | undefined;
    const claimedUntil = new Date(held?.nextAt as string);
    expect(claimedUntil.getTime() - (await dbNow())).toBeGreaterThan(10_000);
    expect(claimedUntil.getTime() - (await dbNow())).toBeLessThan(16_000);
    // A failed attempt sets the retry by the database's clock, backoff after its now().
    expect(await attemptDelivery(db, second[0] as (typeof rows)[0], { backoffMs: 60_000 })).toBe(
      false,
    );
    const [after] = await db
      .select()
      .from(alerts)
      .where(eq(alerts.id, second[0]?.id as string));
    const state = after?.delivery as DeliveryState;
    expect(state).toMatchObject({ id: 'due-0', attempts: 1 });
    expect(state.error).toBeTruthy();
    const retryIn = new Date(state.nextAt as string).getTime() - (await dbNow());
    expect(retryIn).toBeGreaterThan(50_000);
    expect(retryIn).toBeLessThanOrEqual(60_000);
    vi.useRealTimers();
  }, 60_000);
});
