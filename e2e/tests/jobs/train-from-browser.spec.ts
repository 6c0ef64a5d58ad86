import { expect, test } from '@playwright/test';
import { createOwner, createProject, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

// `anneal-server start` enrolls a local agent once the owner exists; the job trains the
// tiny preset on 8x8 shapes, so it runs on two CPU cores in well under a minute. The
// registered version is then evaluated from the browser at a small size (20 samples, a
// 20-step extractor), which reuses this server and model rather than training another.
test('train on the local agent from the browser: progress, cancel, retry, registered model, evaluation', async ({
  page,
}) => {
  test.setTimeout(360_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'from-the-browser');

  await page.goto(`${server.url}/agents`);
  const agentRow = page.locator('tr[data-agent=local]');
  await expect(agentRow).toBeVisible({ timeout: 60_000 });
  await expect(agentRow.getByText('online')).toBeVisible({ timeout: 30_000 });

  await page.goto(`${server.url}/projects/${projectId}/jobs`);
  await page.getByRole('button', { name: 'New job' }).click();
  await page.selectOption('select[name=dataset]', 'shapes');
  await page.fill('input[name=resolution]', '8');
  await page.fill('input[name=steps]', '60');
  await page.fill('input[name=batch]', '8');
  await page.fill('input[name=checkpointEvery]', '10');
  await page.fill('input[name=logEvery]', '1');
  await page.getByRole('button', { name: 'Queue job' }).click();

  // The list does not poll: status, progress and ETA arrive over the tRPC SSE subscription.
  await expect(page.locator('[data-live=on]')).toBeVisible({ timeout: 30_000 });
  const row = page.locator('tr[data-job]').first();
  await expect(row.getByText('running')).toBeVisible({ timeout: 60_000 });
  await expect(row.getByText(/^(1\d|[2-5]\d) \/ 60 steps/)).toBeVisible({ timeout: 60_000 });
  await expect(row.getByText(/\d+ (s|min) left/)).toBeVisible({ timeout: 30_000 });
  await row.getByRole('button', { name: 'Cancel' }).click();
  await expect(row.getByText('cancelled').first()).toBeVisible();
  const [cancelled] = await server.sql`select status from jobs`;
  expect(cancelled?.status).toBe('cancelled');

  await row.getByRole('button', { name: 'Retry' }).click();
  await expect(row.getByText('succeeded')).toBeVisible({ timeout: 120_000 });
  const [job] = await server.sql`select status, attempts from jobs`;
  expect(job?.status).toBe('succeeded');
  const steps = await server.sql`
    select m.step from metrics m join runs r on r.id = m.run_id
    where m.key = 'loss' order by m.step`;
  expect(steps.map((s) => Number(s.step))).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));

  // The trained run's page: real curves in their units (docs/screenshots/run-training.png).
  const [trained] = await server.sql`select id from runs where status = 'succeeded'`;
  await page.goto(`${server.url}/projects/${projectId}/runs/${trained?.id}`);
  await expect(page.getByTestId('chart-loss').getByTestId('y-axis-title')).toHaveText('loss');
  await expect(page.getByTestId('chart-peak_memory_bytes').getByTestId('y-axis-title')).toHaveText(
    /^peak memory \((KiB|MiB|GiB)\)$/,
  );
  await shot(page, 'run-training', true);

  await page.goto(`${server.url}/projects/${projectId}/models`);
  await expect(page.getByText('shapes-tiny-8')).toBeVisible();
  const versions = await server.sql`select metadata from model_versions`;
  expect(versions).toHaveLength(1);
  expect(versions[0]?.metadata.hardware.backend).toBeTruthy();

  await page.goto(`${server.url}/projects/${projectId}/jobs`);
  await page.getByRole('button', { name: 'New job' }).click();
  await page.selectOption('select[name=jobType]', 'evaluate');
  await page.selectOption('select[name=source]', 'modelVersion');
  await page.selectOption('select[name=versionId]', { label: 'shapes-tiny-8 v1' });
  await page.selectOption('select[name=sampler]', 'euler');
  await page.fill('input[name=sampleSteps]', '2');
  await page.fill('input[name=evalN]', '20');
  await page.fill('input[name=extractorSteps]', '20');
  await page.fill('input[name=extractorWidth]', '8');
  await page.getByRole('button', { name: 'Queue job' }).click();
  const evalRow = page.locator('tr[data-job]', { hasText: 'evaluate' });
  await expect(evalRow.getByText('succeeded')).toBeVisible({ timeout: 150_000 });

  const [evaluated] = await server.sql`select metadata->'evaluations' as e from model_versions`;
  expect(evaluated?.e).toHaveLength(1);
  const e = evaluated?.e[0];
  expect(e).toMatchObject({ sampler: 'euler', steps: 2, n: 20 });
  expect(Number.isFinite(e.fd) && Number.isFinite(e.floor_fd)).toBe(true);
  await page.goto(`${server.url}/projects/${projectId}/models/shapes-tiny-8`);
  const evaluation = page.getByTestId('evaluations').locator('tbody tr');
  await expect(evaluation).toHaveCount(1);
  await expect(evaluation.getByText('euler, 2 steps')).toBeVisible();
  await expect(evaluation.getByText(/N = 20/)).toBeVisible();
  // FD beside its floor (real vs real at the same N), as numbers.
  await expect(evaluation.locator('td').nth(1)).toHaveText(/^[\d.e+-]+ \([\d.e+-]+\)$/);

  // A distill job from this version: the consistency methods evaluate 2 and 1 steps, so
  // choosing one brings the form's fewest steps (4 for progressive) down to 1.
  await page.goto(`${server.url}/projects/${projectId}/jobs`);
  await page.getByRole('button', { name: 'New job' }).click();
  await page.selectOption('select[name=jobType]', 'distill');
  await expect(page.locator('input[name=minSteps]')).toHaveValue('4');
  await page.selectOption('select[name=method]', 'consistency-training');
  await expect(page.locator('input[name=minSteps]')).toHaveValue('1');
  await expect(page.getByText('Iterations (the ECT curriculum spans them all)')).toBeVisible();
});
