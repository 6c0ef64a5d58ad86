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

test('a model version is registered from a run and gets an alias', async ({ page }) => {
  await createOwner(page, server);
  const projectId = await createProject(page, 'shapes-consistency');
  const api = rest(server, await createApiToken(page, server, 'ci'));
  const run = await api('POST', `/projects/${projectId}/runs`, {
    name: 'cm-distill',
    params: { nfe: 2 },
    status: 'succeeded',
  });

  await page.goto(`${server.url}/projects/${projectId}/models`);
  await expect(page.getByText('No registered models')).toBeVisible();
  await page.getByRole('button', { name: 'Register version' }).first().click();
  await page.fill('input[name=modelName]', 'unet-shapes');
  await page.selectOption('select[name=sourceRunId]', run.json.id);
  await page.fill('input[name=artifactPath]', 'checkpoints/final.safetensors');
  await page.fill('input[name=sampler]', 'euler');
  await page.fill('input[name=nfe]', '2');
  await page.getByRole('button', { name: 'Register version' }).last().click();
  await expect(page).toHaveURL(/\/models\/unet-shapes$/);
  await expect(page.getByTestId('version-1')).toContainText('run cm-distill');

  const [version] = await server.sql`
    select v.version, v.source_run_id, v.metadata from model_versions v
    join registered_models m on m.id = v.model_id where m.name = 'unet-shapes'`;
  expect(version).toMatchObject({
    version: 1,
    source_run_id: run.json.id,
    metadata: { sampler: 'euler', nfe: 2 },
  });

  await page.fill('input[name=alias]', 'production');
  await page.getByRole('button', { name: 'Set alias' }).click();
  await expect(page.getByTestId('version-1').locator('.alias')).toHaveText(/production/);
  const [alias] =
    await server.sql`select a.alias, v.version from model_aliases a join model_versions v on v.id = a.version_id`;
  expect(alias).toMatchObject({ alias: 'production', version: 1 });

  // A second version through REST, then the alias moves in the UI.
  await api('POST', `/projects/${projectId}/models/unet-shapes/versions`, {
    sourceRunId: run.json.id,
    metadata: { nfe: 1, quality: { fd: 4.1 } },
  });
  await page.reload();
  await page.selectOption('select[name=version]', '2');
  await page.getByRole('button', { name: 'Set alias' }).click();
  await expect(page.getByTestId('version-2').locator('.alias')).toHaveText(/production/);
  const [moved] =
    await server.sql`select v.version from model_aliases a join model_versions v on v.id = a.version_id where a.alias = 'production'`;
  expect(moved?.version).toBe(2);
  await shot(page, 'model', true);
});
