// The quality monitor's pass, run by the serving router on each tick: probes whose job ended
// get their numbers and are judged by the deployment's alert rules, webhook deliveries that
// are due are attempted (new alerts at once, failed ones after their backoff), and scheduled
// probes that are due are queued.
import type { Db } from '@anneal/db/client';
import { judgeProbe } from '../domain/deployments/alerts.ts';
import { deliverDue } from '../domain/deployments/deliveries.ts';
import { createProbe, dueProbes, settleProbes } from '../domain/deployments/probes.ts';

export async function monitorProbes(
  db: Db,
  o: { log: (line: string) => void; webhookBackoffMs?: number },
): Promise<void> {
  for (const p of await settleProbes(db)) {
    o.log(`probe ${p.id} of deployment ${p.deploymentId}: ${p.status}`);
    for (const alert of await judgeProbe(db, p)) o.log(`alert ${alert.id}: ${alert.message}`);
  }
  await deliverDue(db, { log: o.log, backoffMs: o.webhookBackoffMs });
  for (const d of await dueProbes(db)) {
    // dueProbes selects only deployments with a creator; the check narrows the type.
    if (!d.createdBy) continue;
    try {
      await createProbe(db, d, 'schedule', d.createdBy);
    } catch (err) {
      o.log(`could not queue a probe of ${d.name}: ${(err as Error).message}`);
    }
  }
}
