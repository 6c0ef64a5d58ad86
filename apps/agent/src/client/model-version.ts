// A registered model version's checkpoint on this machine, for commands that take
// `DIR|version` and for jobs on a version: downloaded once (config.json and
// model.safetensors, each checked against its sha256) into ANNEAL_HOME/models/versions/<id>/,
// then reused. A version's files never change, so the cached folder stays valid.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core';
import { resolveAnnealHome } from '@anneal/core/home';
import { CONFIG_FILE, MODEL_FILE } from '@anneal/engine';
import { fetchModel } from '../daemon/fetch-model.ts';
import { ServerApi } from '../daemon/http.ts';
import { SpecError } from '../failure.ts';
import { resolveClient } from './config.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `arg` names a model version (its id) rather than a folder. */
export const isVersionId = (arg: string) => UUID.test(arg);

const complete = (dir: string) =>
  existsSync(join(dir, CONFIG_FILE)) && existsSync(join(dir, MODEL_FILE));

/**
 * The folder of model version `id` (one per version, whatever the id's case), filled by
 * `fetch` into a private partial folder and renamed into place when absent. Safe when two
 * callers in one process (the daemon's jobs) or two processes fetch the same version at once:
 * each downloads into its own folder, the first rename wins and the other's copy is dropped.
 */
export async function versionCheckpointDir(
  id: string,
  fetch: (dir: string) => Promise<void>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const dir = join(resolveAnnealHome(env), 'models', 'versions', id.toLowerCase());
  if (complete(dir)) return dir;
  const partial = `${dir}.partial-${randomUUID()}`;
  mkdirSync(partial, { recursive: true });
  try {
    await fetch(partial);
    if (complete(dir)) return dir;
    // An incomplete folder (an interrupted copy from before partial folders) is replaced.
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(partial, dir);
    } catch (err) {
      // Another caller's rename came first.
      if (!complete(dir)) throw err;
    }
    return dir;
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
}

/**
 * The folder holding model version `id`'s checkpoint, downloading it first if needed, from the
 * server `flags` name (--server/--token; defaults as resolveClient). Only the checkpoint comes
 * down: learned schedules stored on the version (metadata.schedules) are not written into the
 * folder's schedules/.
 */
export async function modelVersionDir(
  id: string,
  flag: string,
  env: NodeJS.ProcessEnv = process.env,
  flags: { server?: string; token?: string } = {},
): Promise<string> {
  const client = resolveClient(flags, env);
  const fetch = (dir: string) =>
    fetchModel(
      new ServerApi(client.server, client.token),
      { kind: 'modelVersion', id: id.toLowerCase() },
      dir,
    );
  try {
    return await versionCheckpointDir(id, fetch, env);
  } catch (err) {
    if (err instanceof SpecError) throw new AppError('NOT_FOUND', `${flag}: ${err.message}`);
    throw new AppError(
      'PRECONDITION_FAILED',
      `${flag}: cannot download model version ${id} from ${client.server}: ${(err as Error).message}`,
    );
  }
}
