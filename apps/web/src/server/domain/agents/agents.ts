import type { Db } from '@anneal/db/client';
import { agents, jobs, tokens } from '@anneal/db/schema';
import { agentBenchmarkSchema } from '@anneal/protocol';
import { and, desc, eq, inArray, isNotNull } from 'drizzle-orm';

export interface AgentHello {
  tokenId: string;
  orgId: string;
  name: string;
  version: string;
  /** The hardware probe, with the memory budget kept beside it. */
  hardware: Record<string, unknown>;
}

/**
 * Records an agent's hello: one agent per token, created at its first hello and updated
 * (name, version, hardware, liveness) at each later one. Returns the agent's id.
 */
export async function registerAgent(db: Db, hello: AgentHello, now = new Date()): Promise<string> {
  const values = {
    name: hello.name,
    version: hello.version,
    hardware: hello.hardware,
    lastSeenAt: now,
  };
  const [existing] = await db
    .select({ id: agents.id })
    .from(agents)
    .where(eq(agents.tokenId, hello.tokenId));
  if (existing) {
    await db.update(agents).set(values).where(eq(agents.id, existing.id));
    return existing.id;
  }
  const [row] = await db
    .insert(agents)
    .values({ ...values, orgId: hello.orgId, tokenId: hello.tokenId })
    .returning({ id: agents.id });
  if (!row) throw new Error('could not record the agent');
  return row.id;
}

/** Marks an agent as seen (its heartbeats). */
export async function touchAgent(db: Db, agentId: string, now = new Date()): Promise<void> {
  await db.update(agents).set({ lastSeenAt: now }).where(eq(agents.id, agentId));
}

/** Of these agent tokens, the ones revoked (also by another server process or the CLI). */
export async function revokedTokenIds(db: Db, tokenIds: string[]): Promise<string[]> {
  if (tokenIds.length === 0) return [];
  const rows = await db
    .select({ id: tokens.id })
    .from(tokens)
    .where(and(inArray(tokens.id, tokenIds), isNotNull(tokens.revokedAt)));
  return rows.map((r) => r.id);
}

/** An organization's agents, last seen first, with whether each is connected and its job. */
export async function listAgents(db: Db, orgId: string, connected: ReadonlySet<string>) {
  const rows = await db
    .select({
      id: agents.id,
      name: agents.name,
      version: agents.version,
      hardware: agents.hardware,
      benchmark: agents.benchmark,
      lastSeenAt: agents.lastSeenAt,
    })
    .from(agents)
    .where(eq(agents.orgId, orgId))
    .orderBy(desc(agents.lastSeenAt));
  const ids = rows.map((r) => r.id);
  const running = ids.length
    ? await db
        .select({ id: jobs.id, projectId: jobs.projectId, type: jobs.type, owner: jobs.leaseOwner })
        .from(jobs)
        .where(and(inArray(jobs.leaseOwner, ids), inArray(jobs.status, ['leased', 'running'])))
    : [];
  return rows.map((r) => {
    const job = running.find((j) => j.owner === r.id);
    const benchmark = agentBenchmarkSchema.safeParse(r.benchmark);
    return {
      ...r,
      benchmark: benchmark.success ? benchmark.data : null,
      online: connected.has(r.id),
      currentJob: job ? { id: job.id, projectId: job.projectId, type: job.type } : null,
    };
  });
}
