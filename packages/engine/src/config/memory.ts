import { z } from 'zod';

/**
 * The memory budget, from ANNEAL_MEMORY_BUDGET or a job's config: a fraction of the working
 * set ("0.6"), or an absolute size ("12GiB", "800MB", "1073741824").
 */
export const memoryBudgetSettingSchema = z
  .string()
  .trim()
  .regex(
    /^(0?\.\d+|1(\.0*)?|\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB|TB|TiB)?)$/i,
    'must be a fraction in (0, 1] such as 0.6, or a size such as 12GiB',
  );

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

export type MemoryBudgetSetting = { fraction: number } | { bytes: number };

/** Parses a budget setting; throws a ZodError naming the problem. */
export function parseMemoryBudgetSetting(value: string): MemoryBudgetSetting {
  const text = memoryBudgetSettingSchema.parse(value);
  const m = text.match(/^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)?$/i);
  if (!m) throw new Error(`invalid memory budget "${value}"`);
  const n = Number(m[1]);
  if (!m[2] && n > 0 && n <= 1) return { fraction: n };
  if (!m[2] && !Number.isInteger(n)) {
    throw new Error(`"${value}" is neither a fraction in (0, 1] nor a whole number of bytes`);
  }
  if (n <= 0) throw new Error(`memory budget must be positive, got "${value}"`);
  return { bytes: Math.floor(n * (UNITS[(m[2] ?? 'b').toLowerCase()] ?? 1)) };
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
