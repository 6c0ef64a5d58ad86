import { AppError } from '@anneal/core/errors';
import { DEFAULT_BUDGET_FRACTION } from './config/estimate.ts';
import { parseMemoryBudgetSetting } from './config/memory.ts';
import { loadNative } from './native.ts';
import type { JobMemorySpec, MemoryBudget, MemoryEstimate, MemoryStats } from './native-types.ts';

export type { JobMemorySpec, MemoryBudget, MemoryEstimate, MemoryStats };

/**
 * The budget in force: `setting` (a flag), else ANNEAL_MEMORY_BUDGET, else the default
 * fraction of the working set. Throws AppError(BAD_REQUEST) naming a malformed setting.
 */
export function resolveMemoryBudget(setting = process.env.ANNEAL_MEMORY_BUDGET): MemoryBudget {
  const native = loadNative();
  if (!setting) return native.memory.defaultBudget(DEFAULT_BUDGET_FRACTION);
  let parsed: ReturnType<typeof parseMemoryBudgetSetting>;
  try {
    parsed = parseMemoryBudgetSetting(setting);
  } catch (err) {
    throw new AppError('BAD_REQUEST', `memory budget "${setting}": ${(err as Error).message}`);
  }
  if ('fraction' in parsed) return native.memory.defaultBudget(parsed.fraction);
  return { bytes: parsed.bytes, source: `configured as ${setting}` };
}

export function estimateJobMemory(spec: JobMemorySpec): MemoryEstimate {
  return loadNative().memory.estimate(spec);
}

/** Refuses a job that cannot fit: throws AppError(RESOURCE_EXHAUSTED) naming budget and estimate. */
export function assertJobFits(spec: JobMemorySpec, budget: MemoryBudget): void {
  try {
    loadNative().memory.assertFits(spec, budget);
  } catch (err) {
    if ((err as { code?: string }).code === 'ANNEAL_MEMORY_BUDGET') {
      throw new AppError('RESOURCE_EXHAUSTED', (err as Error).message);
    }
    throw err;
  }
}

/** Sets MLX's memory and cache limits (and the wired limit on Metal) from the budget. */
export function applyMemoryLimits(budget: MemoryBudget): void {
  loadNative().memory.applyLimits(budget);
}

/** Throws AppError(RESOURCE_EXHAUSTED) when MLX's peak memory has crossed the budget. */
export function checkPeakMemory(budget: MemoryBudget, step: number): void {
  try {
    loadNative().memory.checkPeak(budget, step);
  } catch (err) {
    if ((err as { code?: string }).code === 'ANNEAL_MEMORY_BUDGET') {
      throw new AppError('RESOURCE_EXHAUSTED', (err as Error).message);
    }
    throw err;
  }
}

/** Active, peak and cached bytes as MLX's allocator counts them. */
export function memoryStats(): MemoryStats {
  return loadNative().memory.stats();
}

export function resetPeakMemory(): void {
  loadNative().memory.resetPeak();
}
