import { expect, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  // No local agent: the seeded search job stays as seeded (a real one trains for minutes).
  server = await startServer({ localAgent: false });
});
test.afterAll(async () => {
  await server?.stop();
});

const A = 'w16.32-l1-a.A-h16-g8';
const B = 'w8.16-l1-a..-g8';
const T = 'w32.64-l2-a.AM-h16-g8';
const cost = (latencyMs: number) => ({
  latencyMs,
  throughputMsPerImage: latencyMs / 4,
  throughputBatch: 16,
  samplePeakBytes: 1e7,
  trainStepMs: 20 * latencyMs,
  trainBatch: 32,
  trainPeakBytes: 2 ** 28,
});
const evaluation = (fd: number) => ({
  n: 500,
  fd,
  floor: 0.5,
  kid: 0.01,
  precision: 0.7,
  recall: 0.6,
  classAccuracy: null,
});
const settings = {
  space: {},
  fitSample: 3,
  latencyMs: null,
  speedup: 1.5,
  pool: 2,
  throughputBatch: 16,
  trainBatch: 32,
  proxy: {
    sampler: 'dpmpp-2m',
    steps: 20,
    n: 64,
    batch: 32,
    lr: 5e-4,
    emaDecay: 0.999,
    outputWeight: 1,
    seed: 0,
    checkpointEvery: 50,
  },
  firstIters: 100,
  eta: 2,
  rungs: 2,
  winners: 1,
  fullIters: 500,
  evalN: 500,
  extractor: {},
};
const unet = {
  sample_size: 8,
  in_channels: 3,
  out_channels: 3,
  block_out_channels: [16, 32],
  layers_per_block: 1,
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D'],
  up_block_types: ['AttnUpBlock2D', 'UpBlock2D'],
  attention_head_dim: 16,
  norm_num_groups: 8,
};
const rungsA = [
  { iters: 100, proxy: 0.03, trainSeconds: 10 },
  { iters: 200, proxy: 0.02, trainSeconds: 11 },
];
const full = { iters: 500, proxy: 0.01, trainSeconds: 60, eval: evaluation(2.4) };

// Issue 19 section 5: a search job's run page shows its pool, the proxy-latency scatter with
// the front and the teacher, and links the registered winner to its model version, whose
// page shows what the search measured. The job's completion is seeded (summary artifact,
// registered version) as the agent and the server would leave it.
test("a search run shows its pool and front, and its winner's version the search metadata", async ({
  page,
}) => {
  await createOwner(page, server);
  const projectId = await createProject(page, 'search');
  const api = rest(server, await createApiToken(page, server, 'e2e'));
  const teacherRun = await api('POST', `/projects/${projectId}/runs`, { name: 'teacher' });
  const teacher = await api('POST', `/projects/${projectId}/models/pets-small/versions`, {
    sourceRunId: teacherRun.json.id,
    artifactPath: 'checkpoints/latest/model.safetensors',
  });
  expect(teacher.status, JSON.stringify(teacher.json)).toBe(201);
  const job = await api('POST', `/projects/${projectId}/jobs`, {
    job: { type: 'search', spec: { teacher: teacher.json.id, winners: 1 } },
  });
  expect(job.status, JSON.stringify(job.json)).toBe(201);
  const runId = job.json.runId as string;

  const summary = {
    out: '/agent/search',
    phase: 'done',
    profile: 'cpu-test-2t',
    hardware: {
      backend: 'cpu',
      os: 'linux',
      chip: { vendor: 'x', name: 'test', family: null, tier: null, gpuArchitecture: null },
      memory: { totalBytes: 8e9, workingSetBytes: 4e9, unified: true },
      cores: { logical: 2, performance: 2, efficiency: 0 },
      mlxVersion: '0',
      blas: 'none',
    },
    settings,
    teacher: { dir: '/agent/teacher', weights: 'b'.repeat(64), name: T },
    latencyLimitMs: 4,
    candidates: 40,
    measured: 6,
    seconds: { measure: 30, proxy: 300 },
    pool: [
      {
        name: A,
        parameters: 120_000,
        measured: cost(2),
        rungs: rungsA,
        dropped: null,
        full,
        // A full training a resume replaced (another schedule): on record beside the winner.
        earlierFull: [{ ...full, anneal: { from: 200, to: 500 }, eval: evaluation(3) }],
      },
      {
        name: B,
        parameters: 60_000,
        measured: cost(1.5),
        rungs: rungsA.slice(0, 1).map((r) => ({ ...r, proxy: 0.05 })),
        dropped: 'halved out after rung 1 (proxy 5.000e-2)',
      },
    ],
    front: [T, A],
    // Over more candidates than this fixture's pool, with the spread of the first rung's.
    correlation: {
      n: 6,
      firstRung: 0.4,
      full: -0.6,
      spread: { resamples: 100, firstRung: { low: -0.2, high: 0.9, std: 0.3 }, full: null },
    },
    teacherEval: evaluation(2),
    // What it cost, where it went on, and a machine that slowed while it measured.
    cpuSeconds: {
      measuring: 1800,
      halving: 7200,
      training: 5400,
      correlating: 3600,
      fromStart: true,
    },
    continuedOn: [
      { profile: 'cpu-test-2t-blaswait4', phase: 'training', at: '2026-12-06T07:00:00Z' },
    ],
    teacherMeasured: cost(6),
    remeasured: { latencyMs: 7.5, throughputMsPerImage: 1.875, drift: 0.25 },
    winners: [
      {
        name: A,
        unet,
        parameters: 120_000,
        measured: cost(2),
        speedup: 3,
        rungs: rungsA,
        full,
        dir: `winners/${A}`,
      },
    ],
  };
  const put = await api(
    'PUT',
    `/runs/${runId}/artifacts/search/summary.json`,
    new TextEncoder().encode(JSON.stringify(summary)),
    'application/octet-stream',
  );
  expect(put.status, JSON.stringify(put.json)).toBe(201);
  const winner = await api('POST', `/projects/${projectId}/models/pets-small-search/versions`, {
    sourceRunId: runId,
    artifactPath: `winners/${A}/model.safetensors`,
    metadata: { quality: { fd: 2.4, teacher_fd: 2, fd_ratio: 1.2 } },
  });
  expect(winner.status, JSON.stringify(winner.json)).toBe(201);
  // The search record, as the job's completion writes it (REST registration takes no lineage).
  const record = {
    teacher: {
      version_id: teacher.json.id,
      model: 'pets-small',
      version: 1,
      weights_sha256: 'b'.repeat(64),
    },
    job_id: job.json.id,
    run_id: runId,
    name: A,
    profile: 'cpu-test-2t',
    space: {},
    settings,
    latency_limit_ms: 4,
    measured: cost(2),
    predicted: null,
    speedup: 3,
    rungs: rungsA,
    full,
    teacher_eval: evaluation(2),
    fd_ratio: 1.2,
    parameters: 120_000,
  };
  await server.sql`update model_versions set metadata = metadata || ${server.sql.json({ search: record })} where id = ${winner.json.id}`;

  await page.goto(`${server.url}/projects/${projectId}/runs/${runId}`);
  const card = page.getByTestId('search');
  await expect(card.getByRole('heading', { name: 'Search' })).toBeVisible();
  await expect(card.getByTestId(`search-row-${A}`)).toContainText('3.00×');
  await expect(card.getByTestId(`search-row-${B}`)).toContainText('halved out after rung 1');
  // Two candidates at their latest proxies; the front (A alone beside the teacher) is no line.
  await expect(card.getByTestId('search-scatter').locator('circle[r="4"]')).toHaveCount(2);
  await expect(card.getByTestId(`search-scatter-winner-${A}`)).toBeVisible();
  await expect(card.getByTestId('search-scatter-teacher')).toContainText('teacher');
  // The fixture's settings predate the choice of inheritance: exact, as such searches ran.
  await expect(card.getByTestId('search-winners-note')).toContainText(
    "Started from the teacher's tensors of the same names and shapes, taught by the teacher's output at weight 1 beside the data loss",
  );
  await expect(card.getByTestId('search-cost')).toContainText(
    "CPU time: 4.00 CPU-hours (measuring 0.50, halving 2.00, the winners 1.50), and 1.00 training for the proxy's correlation. Went on after its measurements on cpu-test-2t-blaswait4 (from training)",
  );
  await expect(card.getByTestId('search-drift')).toContainText(
    'The teacher measured 6.00 ms/step first and 7.50 once the pool was (+25%)',
  );
  await expect(card.getByTestId('search-correlation')).toContainText(
    'over 6 candidates: Spearman 0.40 (5-95% -0.20 to 0.90) at the first rung, -0.60 after full training (intervals over 100 paired resamples of the FD evaluations).',
  );
  await expect(card.getByTestId('search-earlier')).toContainText(
    `${A}: 500 iterations, rate decayed from 200: FD 3 (1.50× the teacher's)`,
  );
  await shot(page, 'search-run', true);
  await card.getByTestId(`search-winner-${A}`).click();
  await expect(page).toHaveURL(/\/models\/pets-small-search$/);
  const searched = page.getByTestId('searched-from');
  await expect(searched).toContainText('teacher pets-small v1');
  await expect(page.getByTestId('searched-profile')).toHaveText('cpu-test-2t');
  await expect(page.getByTestId('searched-summary')).toContainText('3.00×');
  await expect(page.getByTestId('searched-summary')).toContainText("1.20× the teacher's 2");
});
