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

// Issue 17 part 1 as a user sees it: a model trained on the local agent (tiny preset, 8x8
// shapes) is deployed from the Deployments tab; its replica loads on the local agent, the
// "Try it" form generates through the same path as the REST API and shows the images, and the
// latency tiles and recent requests fill in from what the server recorded.
test('deploy a registered model from the browser and generate with it', async ({ page }) => {
  test.setTimeout(300_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'serving');
  const api = rest(server, await createApiToken(page, server, 'e2e'));
  const job = await api('POST', `/projects/${projectId}/jobs`, {
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        steps: 20,
        preset: 'tiny',
      },
    },
  });
  expect(job.status, JSON.stringify(job.json)).toBe(201);
  await expect
    .poll(async () => (await api('GET', `/jobs/${job.json.id}`)).json.status, { timeout: 180_000 })
    .toBe('succeeded');

  await page.goto(`${server.url}/projects/${projectId}/deployments`);
  await expect(page.getByText('No deployments')).toBeVisible();
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.fill('input[name=name]', 'shapes-live');
  await page.selectOption('select[name=model]', 'shapes-tiny-8');
  await page.selectOption('select[name=target]', 'version:1');
  await page.selectOption('select[name=sampler]', 'ddim');
  await page.fill('input[name=steps]', '4');
  await page.getByRole('button', { name: 'Deploy', exact: true }).last().click();
  await expect(page).toHaveURL(/\/deployments\/[0-9a-f-]{36}$/);

  // The replica loads on the local agent; the deployment then serves.
  await expect(page.locator('.badge.serving')).toBeVisible({ timeout: 60_000 });
  await expect(page.locator('tbody .badge.ready')).toBeVisible();

  await page.fill('input[name=n]', '4');
  await page.fill('input[name=seed]', '3');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByTestId('generated')).toContainText('seed 3');
  await expect(page.getByTestId('generated')).toContainText('ddim, 4 steps');
  const images = page.locator('.thumb img');
  await expect(images).toHaveCount(4);
  // Every image is a real PNG the browser decoded, served by the deployment's image route.
  await expect
    .poll(() =>
      images.evaluateAll((els) => els.every((e) => (e as HTMLImageElement).naturalWidth === 8)),
    )
    .toBe(true);

  // The request is recorded: one succeeded row, and a p50 latency in the tiles.
  await expect(page.locator('tbody .badge.succeeded')).toHaveCount(1, { timeout: 10_000 });
  await expect(
    page
      .getByTestId('latency')
      .getByText(/^\d+ ms$|^\d+\.\d+ s$/)
      .first(),
  ).toBeVisible();
  const [row] =
    await server.sql`select status, jsonb_array_length(images) as n from generation_requests`;
  expect(row).toMatchObject({ status: 'succeeded', n: 4 });
  await shot(page, 'deployment', true);

  // Stopping unloads the replica.
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.locator('.badge.stopped').first()).toBeVisible({ timeout: 30_000 });
});
