// The checkpoint a sample or evaluate job reads, from the control plane: a run's last
// upload, or the one a registered model version points at, listed by the REST API and
// fetched by sha256.
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ModelSource } from '@anneal/protocol';
import { SpecError } from '../failure.ts';
import type { ServerApi } from './http.ts';

interface ArtifactRow {
  path: string;
  sha256: string;
  size: number;
}

export async function getJson<T>(api: ServerApi, path: string, what: string): Promise<T> {
  const res = await fetch(`${api.url.replace(/\/$/, '')}/api/v1${path}`, {
    headers: { authorization: `Bearer ${api.token}` },
    signal: api.requestSignal(),
  });
  // A source that does not exist will not appear on a retry.
  if (res.status === 404) throw new SpecError(`${what} not found`);
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Downloads the checkpoint (config.json + model.safetensors) a model source names into `dir`. */
export async function fetchModel(api: ServerApi, source: ModelSource, dir: string): Promise<void> {
  let runId: string;
  let prefix = 'checkpoints/latest/';
  let what: string;
  if (source.kind === 'run') {
    runId = source.runId;
    what = `model run ${runId}`;
  } else {
    what = `model version ${source.id}`;
    const version = await getJson<{ sourceRunId: string | null; artifactPath: string | null }>(
      api,
      `/model-versions/${source.id}`,
      what,
    );
    if (!version.sourceRunId) throw new SpecError(`${what} has no source run to read weights from`);
    runId = version.sourceRunId;
    if (version.artifactPath?.includes('/'))
      prefix = version.artifactPath.slice(0, version.artifactPath.lastIndexOf('/') + 1);
  }
  const { artifacts } = await getJson<{ artifacts: ArtifactRow[] }>(
    api,
    `/runs/${runId}/artifacts`,
    what,
  );
  const files = artifacts.filter(
    (a) => a.path === `${prefix}config.json` || a.path === `${prefix}model.safetensors`,
  );
  if (files.length < 2) throw new SpecError(`${what} has no uploaded checkpoint under ${prefix}`);
  mkdirSync(dir, { recursive: true });
  for (const ref of files) await api.getArtifact(runId, ref, join(dir, basename(ref.path)));
}
