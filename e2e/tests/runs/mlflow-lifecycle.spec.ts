import { expect, test } from '@playwright/test';
import { createApiToken, createOwner, createProject } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

test('runs and projects deleted through MLflow are hidden, say so on their pages, and restore', async ({
  page,
}) => {
  await createOwner(page, server);
  const projectId = await createProject(page, 'tracked');
  const token = await createApiToken(page, server, 'mlflow script');
  const mlflow = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}/api/2.0/mlflow/${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status, path).toBe(200);
    return res.json();
  };
  const runId = (await mlflow('POST', 'runs/create', { experiment_id: projectId, run_name: 'r1' }))
    .run.info.run_id;
  const model = (
    await mlflow('POST', 'logged-models', {
      experiment_id: projectId,
      name: 'lm',
      source_run_id: runId,
    })
  ).model.info;
  await mlflow('PATCH', `logged-models/${model.model_id}`, { status: 'LOGGED_MODEL_READY' });

  // The run page lists the run's logged models.
  await page.goto(`${server.url}/projects/${projectId}/runs/${runId}`);
  const models = page.getByTestId('logged-models');
  await expect(models.getByText(model.model_id)).toBeVisible();
  await expect(models.getByText('READY')).toBeVisible();

  // Deleted through MLflow: gone from the runs list, marked on its page, restorable.
  await mlflow('POST', 'runs/delete', { run_id: runId });
  await page.goto(`${server.url}/projects/${projectId}`);
  await expect(page.getByText('No runs yet')).toBeVisible();
  await page.goto(`${server.url}/projects/${projectId}/runs/${runId}`);
  const banner = page.getByTestId('run-deleted');
  await expect(banner).toContainText('deleted (through MLflow)');
  await banner.getByRole('button', { name: 'Restore' }).click();
  await expect(banner).toHaveCount(0);
  const [run] = await server.sql`select deleted_at from runs where id = ${runId}`;
  expect(run?.deleted_at).toBeNull();

  // A deleted project leaves the projects list and restores with its runs.
  await mlflow('POST', 'experiments/delete', { experiment_id: projectId });
  await page.goto(`${server.url}/projects`);
  // The list has loaded (empty: the org's one project is deleted) before its absence counts.
  await expect(page.getByText('No projects yet')).toBeVisible();
  await expect(page.getByRole('link', { name: /tracked/ })).toHaveCount(0);
  await page.goto(`${server.url}/projects/${projectId}`);
  const projectBanner = page.getByTestId('project-deleted');
  await expect(projectBanner).toContainText('deleted (through MLflow)');
  await projectBanner.getByRole('button', { name: 'Restore' }).click();
  await expect(projectBanner).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'r1' })).toBeVisible();
  await page.goto(`${server.url}/projects`);
  await expect(page.getByRole('link', { name: /tracked/ })).toBeVisible();
});
