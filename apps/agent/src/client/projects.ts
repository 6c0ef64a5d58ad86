import { AppError } from '@anneal/core/errors';
import { api, type Client } from './config.ts';

export interface ProjectRef {
  id: string;
  name: string;
  /** Whether this call created it. */
  created: boolean;
}

/**
 * The project named `name` (`--project`), looked up by name through the REST API. `create`:
 * a missing one is created, as `anneal submit` does (when the token may); otherwise it is an
 * error naming the flag.
 */
export async function projectNamed(
  client: Client,
  name: string,
  o: { create: boolean },
): Promise<ProjectRef> {
  const { projects } = await api<{ projects: { id: string; name: string }[] }>(
    client,
    'GET',
    '/projects',
  );
  const found = projects.find((p) => p.name === name);
  if (found) return { id: found.id, name: found.name, created: false };
  if (!o.create) throw new AppError('NOT_FOUND', `--project: no project named ${name}`);
  const made = await api<{ id: string; name: string }>(client, 'POST', '/projects', { name });
  return { id: made.id, name: made.name, created: true };
}
