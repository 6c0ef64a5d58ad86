import { z } from 'zod';
/**
 * Which metric and param columns the runs table shows. Metrics lead with `loss` (what
 * people sort a project by), then the keys most runs share; a project that mixes train,
 * sample and evaluate runs no longer loses `loss` to alphabetically earlier keys
 * (`fd`, `active_memory_bytes`, ...). The user's own choice, when made, wins.
 */
export interface RunLike {
  params: Record<string, unknown>;
  latest: Record<string, number>;
}

/** Metrics that lead the table when present, in this order. */
const LEADING = ['loss', 'fd', 'fd_ratio', 'images_per_s'];

/** Keys ordered by: leading keys first, then how many runs have them, then name. */
function rank(keys: Map<string, number>, leading: string[]): string[] {
  return [...keys.entries()]
    .sort(([a, na], [b, nb]) => {
      const [ia, ib] = [leading.indexOf(a), leading.indexOf(b)];
      if (ia !== ib) return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib);
      return nb - na || a.localeCompare(b);
    })
    .map(([k]) => k);
}

/** Every metric key of these runs, in the order the picker lists them. */
export function metricKeysOf(rows: RunLike[]): string[] {
  const counts = new Map<string, number>();
  for (const r of rows)
    for (const k of Object.keys(r.latest)) counts.set(k, (counts.get(k) ?? 0) + 1);
  return rank(counts, LEADING);
}

/** Every param key of these runs, those that differ between runs first. */
export function paramKeysOf(rows: RunLike[]): string[] {
  const counts = new Map<string, number>();
  for (const r of rows)
    for (const k of Object.keys(r.params)) counts.set(k, (counts.get(k) ?? 0) + 1);
  const differing = [...counts.keys()].filter(
    (k) => new Set(rows.map((r) => JSON.stringify(r.params[k] ?? null))).size > 1,
  );
  return rank(counts, differing.sort());
}

/** The columns shown before the user picks: up to 5 metrics and the params that differ (up to 4). */
export function defaultColumns(rows: RunLike[]): { metrics: string[]; params: string[] } {
  const params = paramKeysOf(rows).filter(
    (k) =>
      k !== 'job_type' && new Set(rows.map((r) => JSON.stringify(r.params[k] ?? null))).size > 1,
  );
  return { metrics: metricKeysOf(rows).slice(0, 5), params: params.slice(0, 4) };
}

const savedColumnsSchema = z.object({
  metrics: z.array(z.string()).max(200),
  params: z.array(z.string()).max(200),
});

/**
 * A column choice saved in this browser, or null when there is none or it is not one (an
 * older format, an entry edited by hand): the defaults apply then, and nothing throws.
 */
export function parseSavedColumns(
  saved: string | null,
): { metrics: string[]; params: string[] } | null {
  if (!saved) return null;
  try {
    const parsed = savedColumnsSchema.safeParse(JSON.parse(saved));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
