import type { rest } from './flows.ts';
import { gradientPng } from './png.ts';
import type { TestServer } from './server.ts';

type Api = ReturnType<typeof rest>;

/** A multipart upload of a labelled folder, as `anneal datasets push` or a browser sends it. */
export async function uploadFolder(
  server: TestServer,
  token: string,
  projectId: string,
  name: string,
  files: Record<string, Uint8Array>,
) {
  const form = new FormData();
  for (const [path, bytes] of Object.entries(files))
    form.append('files', new Blob([Buffer.from(bytes)]), path);
  const res = await fetch(`${server.url}/api/v1/projects/${projectId}/datasets/${name}/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; contentHash: string; version: number };
}

/**
 * A project as a user's first hour leaves it: a training run with the curves `anneal train`
 * logs (loss, lr, throughput, memory), an evaluation run with one point per metric, an
 * uploaded dataset with a file it left out, queued train jobs on a built-in and on the
 * upload, one of them failed with a long error, and a registered model.
 */
export async function seedProject(server: TestServer, token: string, api: Api, projectId: string) {
  const train = await api('POST', `/projects/${projectId}/runs`, {
    name: 'mnist-small',
    params: { lr: 0.001, steps: 400, dataset: '{"kind":"builtin","name":"mnist"}' },
  });
  const metrics = Array.from({ length: 40 }, (_, i) => {
    const step = (i + 1) * 10;
    const noise = ((i * 7919) % 13) / 13 - 0.5;
    return [
      { key: 'loss', step, value: 0.05 + 0.6 * Math.exp(-i / 8) + 0.02 * noise },
      { key: 'lr', step, value: 1e-3 * Math.min(1, step / 100) },
      { key: 'images_per_s', step, value: 310 + 20 * noise },
      { key: 'peak_memory_bytes', step, value: 123_456_789 + i * 1024 },
    ];
  }).flat();
  await api('POST', `/runs/${train.json.id}/metrics`, { metrics });
  await api('PATCH', `/runs/${train.json.id}`, { status: 'succeeded' });

  const evaluation = await api('POST', `/projects/${projectId}/runs`, {
    name: 'mnist-small-eval',
    params: { sampler: 'heun', steps: 20 },
  });
  await api('POST', `/runs/${evaluation.json.id}/metrics`, {
    metrics: [
      { key: 'fd', step: 0, value: 3.21 },
      { key: 'kid', step: 0, value: 0.0123 },
      { key: 'precision', step: 0, value: 0.81 },
      { key: 'recall', step: 0, value: 0.77 },
      { key: 'accuracy', step: 0, value: 0.93 },
    ],
  });
  await api('PATCH', `/runs/${evaluation.json.id}`, { status: 'succeeded' });

  const version = await uploadFolder(server, token, projectId, 'pets', {
    'pets/cat/1.png': gradientPng(8),
    'pets/cat/2.png': gradientPng(9),
    'pets/cat/3.png': gradientPng(10),
    'pets/dog/1.png': gradientPng(11),
    'pets/dog/2.png': gradientPng(12),
    'pets/dog/notes.png': new TextEncoder().encode('not a picture\n'),
  });

  const onUpload = await api('POST', `/projects/${projectId}/jobs`, {
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'version', id: version.id, hash: version.contentHash },
        resolution: 8,
        preset: 'tiny',
        steps: 50,
      },
    },
  });
  const failed = await api('POST', `/projects/${projectId}/jobs`, {
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        preset: 'tiny',
        steps: 20,
      },
    },
  });
  // What an agent reports when the engine refuses a job: one long line without spaces.
  const error = `memory: ${'the-estimated-activation-memory-exceeds-the-budget/'.repeat(40)} lower the batch size`;
  await server.sql`update jobs set status = 'failed', error = ${error} where id = ${failed.json.id}`;
  await server.sql`update runs set status = 'failed' where job_id = ${failed.json.id}`;

  await api('POST', `/projects/${projectId}/models/mnist-small/versions`, {
    sourceRunId: train.json.id,
    metadata: {
      steps: 400,
      quality: { steps: 400, final_loss: 0.061, peak_memory_bytes: 123_456_789 },
    },
  });
  return {
    trainRunId: train.json.id as string,
    evalRunId: evaluation.json.id as string,
    versionId: version.id,
    uploadJobRunId: onUpload.json.runId as string,
  };
}
