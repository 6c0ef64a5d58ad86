import { expect, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

// Issue 14 item 7: a job that fails on the local agent (a cosine schedule whose floor is above
// its peak learning rate, which `anneal train` refuses once it has read its data) shows its
// reason and the last lines it printed on its run page.
test('a failed job shows its reason and its last output lines', async ({ page }) => {
  test.setTimeout(180_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'failures');
  const api = rest(server, await createApiToken(page, server, 'e2e'));
  await page.goto(`${server.url}/agents`);
  await expect(page.locator('tr[data-agent=local]').getByText('online')).toBeVisible({
    timeout: 60_000,
  });

  const job = await api('POST', `/projects/${projectId}/jobs`, {
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        steps: 4,
        preset: 'tiny',
        lr: 1e-4,
        min_lr: 0.5,
      },
    },
  });
  expect(job.status, JSON.stringify(job.json)).toBe(201);
  await expect
    .poll(async () => (await api('GET', `/jobs/${job.json.id}`)).json.status, { timeout: 90_000 })
    .toBe('failed');

  await page.goto(`${server.url}/projects/${projectId}/runs/${job.json.runId}`);
  const failure = page.getByTestId('run-failure');
  await expect(failure).toBeVisible();
  await expect(failure.getByRole('heading')).toHaveText('The train job failed');
  await expect(page.getByTestId('run-failure-reason')).toContainText(
    '--min-lr: 0.5 is above the peak learning rate 0.0001',
  );
  const log = page.getByTestId('run-failure-log');
  await expect(log).toContainText('preparing dataset');
  await expect(log).toContainText('--min-lr: 0.5 is above the peak learning rate');
  await expect(log).not.toContainText('attempt 1 failed');
  await shot(page, 'run-failed');
  // Not retried: the spec fails the same way everywhere. The lines are the run's logs.
  const [row] = await server.sql`select attempts from jobs where id = ${job.json.id}`;
  expect(row?.attempts).toBe(1);
  const lines = await server.sql`select line from run_logs where run_id = ${job.json.runId}`;
  expect(lines.map((l) => l.line)).toContainEqual(expect.stringMatching(/^attempt 1 failed: /));
});
