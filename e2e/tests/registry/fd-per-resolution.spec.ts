import { expect, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

// Issue 16 §5: an evaluation at several resolutions shows FD beside its floor at each one.
test('the model page shows FD per resolution under an evaluation', async ({ page }) => {
  await createOwner(page, server);
  const projectId = await createProject(page, 'multires');
  const api = rest(server, await createApiToken(page, server, 'ci'));
  const run = await api('POST', `/projects/${projectId}/runs`, {
    name: 'progressive-16-32',
    status: 'succeeded',
  });
  const metrics = (resolution: number, fd: number, floor: number) => ({
    resolution,
    n: 200,
    fd,
    floor_fd: floor,
    kid: 0.01,
    floor_kid: 0.001,
    precision: 0.7,
    floor_precision: 0.8,
    recall: 0.6,
    floor_recall: 0.8,
  });
  // A multi-resolution model's aspect bucket carries its width beside the height.
  const perResolution = [
    metrics(16, 3.25, 0.5),
    metrics(32, 6.5, 0.75),
    { ...metrics(24, 1.5, 0.25), width: 44 },
  ];
  const version = await api('POST', `/projects/${projectId}/models/multires/versions`, {
    sourceRunId: run.json.id,
    metadata: { sampler: 'euler' },
  });
  expect(version.status, JSON.stringify(version.json)).toBe(201);
  // Evaluations are written by evaluate jobs (recordEvaluation), not at registration: seed one
  // as an evaluate job with resolutions [16, 32] stores it.
  const evaluation = {
    sampler: 'euler',
    steps: 20,
    seed: 0,
    wall_s: 10,
    n: 200,
    nfe: 20,
    extractor: 'x',
    ...perResolution[0],
    resolution: 16,
    per_resolution: perResolution,
    job_id: 'job-1',
    run_id: run.json.id,
    at: new Date().toISOString(),
  };
  await server.sql`update model_versions set metadata = metadata || ${server.sql.json({ evaluations: [evaluation] })} where id = ${version.json.id}`;
  await page.goto(`${server.url}/projects/${projectId}/models/multires`);
  const cell = page.getByTestId('evaluations').locator('tbody tr td').nth(1);
  await expect(cell.getByTestId('fd-per-resolution')).toHaveText(
    /^16 px: 3\.2\d* \(0\.50*\) · 32 px: 6\.50* \(0\.750*\) · 24x44 px: 1\.50* \(0\.250*\)$/,
  );
});
