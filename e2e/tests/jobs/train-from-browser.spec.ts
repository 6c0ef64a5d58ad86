import { expect, test } from '@playwright/test';
import { createOwner, createProject } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

// `anneal-server start` enrolls a local agent once the owner exists; the job trains the
// tiny preset on 8x8 shapes, so it runs on two CPU cores in well under a minute.
test('train on the local agent from the browser: progress, cancel, retry, registered model', async ({
  page,
}) => {
  test.setTimeout(240_000);
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

  await page.goto(`${server.url}/projects/${projectId}/models`);
  await expect(page.getByText('shapes-tiny-8')).toBeVisible();
  const versions = await server.sql`select metadata from model_versions`;
  expect(versions).toHaveLength(1);
  expect(versions[0]?.metadata.hardware.backend).toBeTruthy();
});
