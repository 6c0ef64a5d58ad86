// A registered model version's checkpoint on this machine, for commands that take
// `DIR|version`: downloaded once from the control plane (config.json and model.safetensors,
// each checked against its sha256) into ANNEAL_HOME/models/versions/<id>/, then reused.
// A version's files never change, so the cached folder stays valid.
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
  const dir = join(resolveAnnealHome(env), 'models', 'versions', id.toLowerCase());
  if (existsSync(join(dir, CONFIG_FILE)) && existsSync(join(dir, MODEL_FILE))) return dir;
  const client = resolveClient(flags, env);
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    await fetchModel(
      new ServerApi(client.server, client.token),
      { kind: 'modelVersion', id: id.toLowerCase() },
      partial,
    );
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    if (err instanceof SpecError) throw new AppError('NOT_FOUND', `${flag}: ${err.message}`);
    throw new AppError(
      'PRECONDITION_FAILED',
      `${flag}: cannot download model version ${id} from ${client.server}: ${(err as Error).message}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return dir;
}
