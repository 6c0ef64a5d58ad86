import { builtinDataset } from '@anneal/datasets/builtins';
import type { Db } from '@anneal/db/client';
import { agents } from '@anneal/db/schema';
import {
  type ComputeDtype,
  defaultBudgetBytes,
  defaultDtype,
  estimateSamplingMemory,
  estimateTrainingMemory,
  formatBytes,
  type HardwareProfile,
  hardwareProfileSchema,
  presetUNet,
  SAMPLING_CHUNK,
  type UNetConfig,
} from '@anneal/engine/config';
import { jobSpecSchema, type TrainSpec, trainSpecSchema } from '@anneal/protocol';
import { and, eq, inArray } from 'drizzle-orm';

/** What the server knows of a connected agent's room for a job. */
export interface AgentRoom {
  id: string;
  name: string;
  hardware: HardwareProfile;
  /** The budget a job may use there: what the agent said in hello, else the engine's default. */
  memoryBudgetBytes: number;
}

/** The train job that made the checkpoint a sample or evaluate job reads. */
export interface SourceTraining {
  spec: unknown;
  versionClasses: number | null;
}

/** A queued job as assignment sees it: the spec, and a dataset version's class count. */
export interface QueuedJob {
  type: string;
  spec: unknown;
  /** Classes of the dataset version a train job names; null for built-ins. */
  versionClasses: number | null;
  /**
   * For sample and evaluate jobs, the train job behind their checkpoint (see
   * sourceTrainingSql); null when there is none, such as an imported checkpoint.
   */
  source?: SourceTraining | null;
}

export interface MemoryNeed {
  bytes: number;
  /** Images in one step: the training batch, or one sampling forward pass. */
  batch: number;
  dtype: ComputeDtype;
  /** What the user can lower, for the waiting message. */
  lower: string;
}

/** The budget recorded for an agent, stored beside its hardware profile (see the gateway). */
export function agentBudget(hardware: HardwareProfile, reported: unknown): number {
  return typeof reported === 'number' && reported > 0 ? reported : defaultBudgetBytes(hardware);
}

/**
 * The memory a train job needs on an agent, by the engine's own estimate. The agent picks
 * the largest batch that fits when the spec has none, so one image is the least it needs;
 * the dtype is the spec's, or the one the agent would choose on its hardware.
 */
export function trainMemoryNeed(
  spec: TrainSpec,
  versionClasses: number | null,
  hardware: HardwareProfile,
): MemoryNeed {
  const unet = trainedUNet(spec, versionClasses);
  const batch = spec.batch ?? 1;
  const dtype = spec.dtype ?? defaultDtype(hardware);
  return {
    bytes: estimateTrainingMemory(unet, batch, dtype).total,
    batch,
    dtype,
    lower: 'the batch size, resolution or preset',
  };
}

/** The U-Net a train spec builds, as `anneal train` does from its preset and data. */
function trainedUNet(spec: TrainSpec, versionClasses: number | null): UNetConfig {
  const data =
    spec.dataset.kind === 'version'
      ? { channels: 3, classes: versionClasses ?? 0 }
      : (({ channels, classes }) => ({ channels, classes: classes.length }))(
          builtinDataset(spec.dataset.name),
        );
  const conditional = spec.conditional && data.classes > 0;
  return presetUNet(spec.preset, {
    resolution: spec.resolution,
    channels: data.channels,
    numClasses: conditional ? data.classes : undefined,
  });
}

/**
 * The memory a sample or evaluate job needs: the model its checkpoint's train job built,
 * sampled a chunk at a time (estimateSamplingMemory). Null when that train job is unknown.
 */
export function samplingMemoryNeed(
  sampling: { n: number; guidance: number },
  source: SourceTraining | null | undefined,
): MemoryNeed | null {
  const train = trainSpecSchema.safeParse(source?.spec);
  if (!source || !train.success) return null;
  const unet = trainedUNet(train.data, source.versionClasses);
  // Sampling runs in float32 (the checkpoint's EMA weights as saved).
  const estimate = estimateSamplingMemory(unet, { ...sampling, dtype: 'float32' });
  return {
    bytes: estimate.total,
    batch: estimate.batch,
    dtype: 'float32',
    lower: `n (up to ${SAMPLING_CHUNK} images go through the model at once) or the guidance weight`,
  };
}

function needOn(job: QueuedJob, agent: AgentRoom): MemoryNeed | null {
  const parsed = jobSpecSchema.safeParse({ type: job.type, spec: job.spec });
  // A spec that does not parse is failed at lease time, with its reason.
  if (!parsed.success) return null;
  const { data } = parsed;
  if (data.type === 'train') return trainMemoryNeed(data.spec, job.versionClasses, agent.hardware);
  if (data.type === 'sample' || data.type === 'evaluate')
    return samplingMemoryNeed(data.spec, job.source);
  return null;
}

/** Whether `agent` can run `job` within its memory budget. */
export function fitsAgent(job: QueuedJob, agent: AgentRoom): boolean {
  const need = needOn(job, agent);
  return need === null || need.bytes <= agent.memoryBudgetBytes;
}

/**
 * Why a queued job is still waiting, when no connected agent could take it; null when one
 * could (it waits only for a free slot).
 */
export function waitReason(job: QueuedJob, rooms: readonly AgentRoom[]): string | null {
  if (rooms.length === 0) return 'no agent is connected';
  if (rooms.some((a) => fitsAgent(job, a))) return null;
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
    .select({ id: agents.id, name: agents.name, hardware: agents.hardware })
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
