import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file's location rather than the working directory. */
export const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/**
 * ANNEAL_HOME: the embedded database, the artifact store and local secrets live here.
 * ANNEAL_HOME from the environment wins (relative paths resolve against the repository
 * root, not the working directory); otherwise `.anneal` at the repository root.
 */
export function resolveAnnealHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.ANNEAL_HOME?.trim();
  if (fromEnv) return isAbsolute(fromEnv) ? fromEnv : resolve(repoRoot, fromEnv);
  return join(repoRoot, '.anneal');
}
