// Webhook deliveries of alerts, kept in PostgreSQL so a restart loses none: a new alert is due
// at once; each attempt POSTs the signed body once, and a failure sets when the next is due
// (the backoff doubling from `backoffMs`) until the attempts run out. The monitor's passes
// claim what is due, so an attempt under way is not made twice.
import type { Db } from '@anneal/db/client';
import { alerts, deployments } from '@anneal/db/schema';
import { and, eq, inArray, isNotNull, type SQL, sql } from 'drizzle-orm';
import { signedDelivery } from './alerts.ts';

type Alert = typeof alerts.$inferSelect;

export interface DeliveryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  /** The wait before the second attempt; each later one waits twice the one before. */
  backoffMs?: number;
  timeoutMs?: number;
}

/** What `alerts.delivery` holds: the delivery id, attempts made, and when the next is due. */
export interface DeliveryState {
  id?: string;
  attempts?: number;
  /** ISO time the next attempt is due; absent once delivered or given up. */
  nextAt?: string;
  deliveredAt?: string;
  error?: string;
}

/**
 * `nextAt` as the database's clock reads it `ms` from now: every due time is written and
 * compared by the same clock, so an app host whose clock drifts from PostgreSQL's neither
 * delays a delivery nor repeats one early.
 */
export function dueIn(ms: number): SQL {
  return sql`to_char((now() + make_interval(secs => ${ms / 1000})) at time zone 'UTC',
    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * Alerts whose next attempt is due, claimed (at most `limit` per pass, oldest due first): their
 * `nextAt` moves past the attempt's timeout, so a pass that runs meanwhile does not attempt
 * them too (and a server that dies mid-attempt leaves them due again after it). SKIP LOCKED
 * lets two servers' passes claim disjoint alerts.
 */
export async function claimDueDeliveries(
  db: Db,
  o: DeliveryOptions & { limit?: number } = {},
): Promise<Alert[]> {
  const hold = (o.timeoutMs ?? 10_000) + 5_000;
  const due = db
    .select({ id: alerts.id })
    .from(alerts)
    .where(
      and(
        isNotNull(alerts.deploymentId),
        sql`${alerts.delivery}->>'nextAt' is not null`,
        sql`(${alerts.delivery}->>'nextAt')::timestamptz <= now()`,
      ),
    )
    .orderBy(sql`(${alerts.delivery}->>'nextAt')::timestamptz`)
    .limit(o.limit ?? 32)
    .for('update', { skipLocked: true });
  return db
    .update(alerts)
    .set({ delivery: sql`${alerts.delivery} || jsonb_build_object('nextAt', ${dueIn(hold)})` })
    .where(inArray(alerts.id, due))
    .returning();
}

/** One attempt: POST the signed alert to the deployment's webhook; records the outcome. */
export async function attemptDelivery(
  db: Db,
  alert: Alert,
  o: DeliveryOptions = {},
): Promise<boolean> {
  const state = alert.delivery as DeliveryState;
  const attempts = (state.attempts ?? 0) + 1;
  const [d] = alert.deploymentId
    ? await db.select().from(deployments).where(eq(deployments.id, alert.deploymentId))
    : [];
  const url = (d?.alerting as { webhook?: { url: string } } | null)?.webhook?.url;
  // Written only while this attempt still holds the claim (the nextAt the claim set): an
  // attempt that overran it, and was claimed again by a later pass, changes nothing.
  const claimed = state.nextAt;
  const record = (next: DeliveryState, retryInMs?: number) =>
    db
      .update(alerts)
      .set({
        delivery:
          retryInMs === undefined
            ? { ...next }
            : sql`${JSON.stringify(next)}::jsonb || jsonb_build_object('nextAt', ${dueIn(retryInMs)})`,
      })
      .where(
        and(
          eq(alerts.id, alert.id),
          claimed === undefined ? sql`true` : sql`${alerts.delivery}->>'nextAt' = ${claimed}`,
        ),
      );
  if (!d || !url || !d.webhookSecret) {
    // The webhook was removed since: nothing more to send.
    await record({ ...state, nextAt: undefined, error: 'no webhook is set any more' });
    return false;
  }
  const { body, signature } = signedDelivery(alert, d.webhookSecret);
  const id = state.id ?? alert.id;
  let error: string;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-anneal-signature': signature,
        'x-anneal-delivery': id,
        'x-anneal-event': 'alert',
      },
      body,
      signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
    });
    if (res.ok) {
      await record({ id, attempts, deliveredAt: new Date().toISOString() });
      return true;
    }
    error = `HTTP ${res.status}`;
  } catch (err) {
    error = (err as Error).message;
  }
  const left = attempts < (o.attempts ?? 5);
  const wait = (o.backoffMs ?? 1000) * 2 ** (attempts - 1);
  await record({ id, attempts, error }, left ? wait : undefined);
  return false;
}

/** Every delivery that is due, attempted (each in the background; outcomes are recorded). */
export async function deliverDue(
  db: Db,
  o: DeliveryOptions & { log: (line: string) => void },
): Promise<void> {
  for (const alert of await claimDueDeliveries(db, o))
    void attemptDelivery(db, alert, o).catch((err) =>
      o.log(`alert ${alert.id}: delivery failed: ${(err as Error).message}`),
    );
}
