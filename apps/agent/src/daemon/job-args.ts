// `anneal` command lines for the jobs that read a checkpoint (sample, evaluate) or none
// (bench). The checkpoint comes from the control plane: a run's last upload, or the one a
// registered model version points at, listed by the REST API and fetched by sha256.
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { JobOffer, ModelSource } from '@anneal/protocol';
import type { ServerApi } from './http.ts';

/** A spec this agent cannot run: retrying elsewhere will not help either. */
export class SpecError extends Error {}

interface ArtifactRow {
  path: string;
  sha256: string;
  size: number;
}

async function getJson<T>(api: ServerApi, path: string, what: string): Promise<T> {
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

/** `anneal sample|eval|bench` flags for a job; sample and evaluate fetch their checkpoint first. */
export async function jobArgs(offer: JobOffer, api: ServerApi, work: string): Promise<string[]> {
  const job = offer.job;
  const model = join(work, 'model');
  if (job.type === 'sample') {
    const s = job.spec;
    await fetchModel(api, s.model, model);
    const args = ['sample', '--model', model, '--out', join(work, 'grid.png'), '--json'];
    args.push('--sampler', s.sampler, '--steps', String(s.steps), '--n', String(s.n));
    args.push('--seed', String(s.seed), '--guidance', String(s.guidance));
    args.push('--eta', String(s.eta), '--schedule', s.schedule);
    if (s.class !== undefined) args.push('--class', String(s.class));
    return args;
  }
  if (job.type === 'evaluate') {
    const s = job.spec;
    await fetchModel(api, s.model, model);
    const args = ['eval', '--model', model, '--json', '--events'];
    args.push('--sampler', s.sampler, '--steps', String(s.steps), '--n', String(s.n));
    args.push('--seed', String(s.seed), '--guidance', String(s.guidance));
    if (s.reference_sampler) args.push('--reference-sampler', s.reference_sampler);
    if (s.reference_steps !== undefined) args.push('--reference-steps', String(s.reference_steps));
    if (s.extractor_steps !== undefined) args.push('--extractor-steps', String(s.extractor_steps));
    if (s.extractor_width !== undefined) args.push('--extractor-width', String(s.extractor_width));
    return args;
  }
  if (job.type === 'bench') {
    const s = job.spec;
    return [
      'bench',
      '--only',
      s.benchmark,
      `--${s.scale}`,
      '--results',
      join(work, 'bench'),
      '--json',
    ];
  }
  throw new Error(`no command for ${job.type} jobs`);
}
