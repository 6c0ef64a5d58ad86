// The process's group on MLX's distributed layer, for data-parallel training (a Trainer with
// dataParallel). One group per process: the ring backend over TCP reads MLX_RANK and
// MLX_HOSTFILE (a JSON list, one ["host:port"] per rank) from the environment; JACCL, MPI and
// NCCL read theirs. Joining blocks until every rank has connected.
import { fromNativeError, loadNative } from './native.ts';

export interface GroupInfo {
  rank: number;
  size: number;
  backend: string;
}

export const DISTRIBUTED_BACKENDS = ['ring', 'jaccl', 'mpi', 'nccl', 'any'] as const;
export type DistributedBackend = (typeof DISTRIBUTED_BACKENDS)[number];

/** Whether this MLX build has the backend. */
export function backendAvailable(backend: DistributedBackend): boolean {
  return loadNative().distributed.available(backend);
}

/** Joins the process's group (once; the same backend again returns it). */
export function joinGroup(backend: DistributedBackend = 'ring'): GroupInfo {
  try {
    return loadNative().distributed.init({ backend });
  } catch (err) {
    throw fromNativeError(err);
  }
}

/** The group this process joined, or null. */
export function currentGroup(): GroupInfo | null {
  return loadNative().distributed.group();
}

/**
 * The element-wise sum over the group of each rank's `values`; blocks until every rank has
 * called it. For agreeing between steps (every rank stops at the same step) and for timing the
 * group's links; the training step sums gradients itself.
 */
export function groupSum(values: Float32Array): Float32Array {
  try {
    return loadNative().distributed.allSum(values);
  } catch (err) {
    throw fromNativeError(err);
  }
}

/** True on every rank when any rank passes true (a collective: every rank must call it). */
export function anyRank(flag: boolean): boolean {
  return (groupSum(new Float32Array([flag ? 1 : 0]))[0] ?? 0) > 0;
}

/**
 * Rank 0's `value` on every rank (a collective): for decisions every rank must take alike
 * where each computed its own number (a held-out loss, an FD), which could differ in the
 * last bits on different machines. Sent as float32: for flags and small counts.
 */
export function rankZeroValue(value: number): number {
  const rank = currentGroup()?.rank ?? 0;
  return groupSum(new Float32Array([rank === 0 ? value : 0]))[0] ?? 0;
}
