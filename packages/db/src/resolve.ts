import { resolveAnnealHome } from '@anneal/core';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from './embedded.ts';

/**
 * The database `anneal-server` uses: DATABASE_URL when set, else the embedded cluster under
 * ANNEAL_HOME (started here when it is not already serving).
 */
export async function resolveDatabase(
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = () => {},
): Promise<EmbeddedPostgresHandle> {
  const url = env.DATABASE_URL?.trim();
  if (url) return { url, stop: async () => {} };
  return startEmbeddedPostgres(resolveAnnealHome(env), log);
}
