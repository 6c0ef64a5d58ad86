import type { Db } from '@anneal/db/client';
import { agents } from '@anneal/db/schema';
import {
  defaultBudgetBytes,
  formatBytes,
  type HardwareProfile,
  hardwareProfileSchema,
} from '@anneal/engine/config';
import { jobKindOf, jobSpecSchema, type MemoryNeed, type SourceTraining } from '@anneal/protocol';
import { and, eq, inArray } from 'drizzle-orm';
import { ranksOf } from './groups.ts';

export type { MemoryNeed, SourceTraining };

/** What the server knows of a connected agent's room for a job. */
export interface AgentRoom {
  id: string;
  name: string;
  hardware: HardwareProfile;
  /** The budget a job may use there: what the agent said in hello, else the engine's default. */
  memoryBudgetBytes: number;
  /** The agent's build, as it said in hello (for messages). */
  version: string;
  /** The AGENT_FEATURES it said it has in hello: the later spec fields it can read. */
  features: readonly string[];
}

/** A queued job as assignment sees it: the spec, and a dataset version's class count. */
export interface QueuedJob {
  type: string;
  spec: unknown;
  /** Classes of the dataset version a train job names; null for built-ins. */
  versionClasses: number | null;
  /**
   * For jobs that read a checkpoint, the train job behind it (see sourceTrainingSql); null
   * when there is none, such as an imported checkpoint.
   */
  source?: SourceTraining | null;
}

/** The budget recorded for an agent, stored beside its hardware profile (see the gateway). */
export function agentBudget(hardware: HardwareProfile, reported: unknown): number {
  return typeof reported === 'number' && reported > 0 ? reported : defaultBudgetBytes(hardware);
}

/** The features recorded for an agent, stored beside its hardware profile (see the gateway). */
export function agentFeatures(recorded: unknown): string[] {
  return Array.isArray(recorded) ? recorded.filter((f) => typeof f === 'string') : [];
}

/** The memory `job` needs on `agent`, by its kind; null when unknown or negligible. */
function needOn(job: QueuedJob, agent: AgentRoom): MemoryNeed | null {
  const parsed = jobSpecSchema.safeParse({ type: job.type, spec: job.spec });
  // A spec that does not parse is failed at lease time, with its reason.
  if (!parsed.success) return null;
  const kind = jobKindOf(parsed.data.type);
  return (
    kind?.memoryNeed(parsed.data.spec as never, {
      versionClasses: job.versionClasses,
      source: job.source,
      hardware: agent.hardware,
    }) ?? null
  );
}

/** The AGENT_FEATURES `job`'s spec uses; none when it does not parse (failed at lease time). */
export function jobFeatures(job: Pick<QueuedJob, 'type' | 'spec'>): string[] {
  const parsed = jobSpecSchema.safeParse({ type: job.type, spec: job.spec });
  if (!parsed.success) return [];
  return jobKindOf(parsed.data.type)?.features?.(parsed.data.spec as never) ?? [];
}

/** The features `job` uses that `agent` did not say it has. */
function missingFeatures(job: QueuedJob, agent: AgentRoom): string[] {
  return jobFeatures(job).filter((f) => !agent.features.includes(f));
}

/**
 * Whether `agent` can read `job`'s spec and run it within its memory budget. An agent built
 * before a spec field would drop the offer as malformed, so it is never offered one.
 */
export function fitsAgent(job: QueuedJob, agent: AgentRoom): boolean {
  if (missingFeatures(job, agent).length > 0) return false;
  const need = needOn(job, agent);
  return need === null || need.bytes <= agent.memoryBudgetBytes;
}

/**
 * Why a queued job is still waiting, when no connected agent could take it; null when one
 * could (it waits only for a free slot).
 */
export function waitReason(job: QueuedJob, allRooms: readonly AgentRoom[]): string | null {
  if (allRooms.length === 0) return 'no agent is connected';
  const ranks = ranksOf(job.spec);
  if (ranks > 1) {
    // A data-parallel job: that many agents, one rank each, free at the same time.
    const fit = allRooms.filter((a) => fitsAgent(job, a)).length;
    if (fit >= ranks)
      return `waiting for ${ranks} agents to be free at once (one rank each; ${fit} connected agents can take a rank)`;
    const why = fit === 0 ? singleReason(job, allRooms) : null;
    return `needs ${ranks} agents at once, one rank each; ${fit === 0 ? 'no' : fit} connected agent${fit === 1 ? '' : 's'} can take a rank${why ? `: ${why}` : ''}`;
  }
  if (allRooms.some((a) => fitsAgent(job, a))) return null;
  return singleReason(job, allRooms);
}

/** Why no connected agent can take `job` (none fits); null when it is not known. */
function singleReason(job: QueuedJob, allRooms: readonly AgentRoom[]): string | null {
  const rooms = allRooms.filter((a) => missingFeatures(job, a).length === 0);
  if (rooms.length === 0) {
    const fields = jobFeatures(job).map((f) => f.slice(f.indexOf('.') + 1));
    const agents = allRooms.map((a) => `${a.name} ${a.version || '(no version)'}`).join(', ');
    return `the spec uses ${fields.join(', ')}, which no connected agent can read (${agents}): upgrade an agent, or leave ${fields.length > 1 ? 'them' : 'it'} out of the spec`;
  }
  const largest = rooms.reduce((a, b) => (b.memoryBudgetBytes > a.memoryBudgetBytes ? b : a));
  const need = needOn(job, largest);
  if (!need) return null;
  return `needs ${formatBytes(need.bytes)} (batch ${need.batch}, ${need.dtype}), largest agent budget ${formatBytes(largest.memoryBudgetBytes)} (${largest.name}); lower ${need.lower}, or connect an agent with more memory`;
}

/** The connected agents of an organization, with their budgets. */
export async function agentRooms(
  db: Db,
  orgId: string,
  connected: ReadonlySet<string>,
): Promise<AgentRoom[]> {
  if (connected.size === 0) return [];
  const rows = await db
    .select({
      id: agents.id,
      name: agents.name,
      version: agents.version,
      hardware: agents.hardware,
    })
    .from(agents)
    .where(and(eq(agents.orgId, orgId), inArray(agents.id, [...connected])));
  return rows.flatMap((r) => {
    const hw = hardwareProfileSchema.safeParse(r.hardware);
    if (!hw.success) return [];
    return [
      {
        id: r.id,
        name: r.name,
        hardware: hw.data,
        memoryBudgetBytes: agentBudget(hw.data, r.hardware.memoryBudgetBytes),
        version: r.version,
        features: agentFeatures(r.hardware.features),
      },
    ];
  });
}

/** Adds `waiting` (why, or null) to queued jobs, from the connected agents' budgets. */
export async function withWaitReasons<
  T extends {
    status: string;
    type: string;
    spec: unknown;
    versionClasses?: number | null;
    source?: SourceTraining | null;
  },
>(
  db: Db,
  orgId: string,
  rows: T[],
  connected: ReadonlySet<string> | undefined,
): Promise<(T & { waiting: string | null })[]> {
  if (!connected || !rows.some((r) => r.status === 'queued'))
    return rows.map((r) => ({ ...r, waiting: null }));
  const rooms = await agentRooms(db, orgId, connected);
  return rows.map((r) => ({
    ...r,
    waiting:
      r.status === 'queued'
        ? waitReason(
            {
              type: r.type,
              spec: r.spec,
              versionClasses: r.versionClasses ?? null,
              source: r.source ?? null,
            },
            rooms,
          )
        : null,
  }));
}
