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

/**
 * Where `anneal-server start` records the URL it serves (JSON `{url}`), so the CLI on the
 * same machine finds its local server with no flags.
 */
export const localServerFile = (home: string) => join(home, 'server.json');

/** The local owner's API token for the CLI (owner-only file), kept by `anneal-server start`. */
export const localCliTokenFile = (home: string) => join(home, 'secrets', 'local-cli-token');
