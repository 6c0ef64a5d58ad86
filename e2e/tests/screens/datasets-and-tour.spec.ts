import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { expect, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest, shot } from '../../support/flows.ts';
import { gradientPng } from '../../support/png.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

test('a folder uploaded in the browser becomes a dataset version; main pages render', async ({
  page,
}) => {
  await createOwner(page, server);
  const projectId = await createProject(page, 'faces-64');
  await page.goto(`${server.url}/projects`);
  await createProject(page, 'mnist-consistency');
  const api = rest(server, await createApiToken(page, server, 'seed'));
  for (const [name, lr] of [
    ['ddpm-baseline', 0.0002],
    ['ddpm-lr-1e-4', 0.0001],
    ['edm-karras', 0.0002],
  ] as const) {
    const run = await api('POST', `/projects/${projectId}/runs`, {
      name,
      params: { lr, steps: 1000, channels: 64 },
    });
    const metrics = Array.from({ length: 60 }, (_, step) => ({
      key: 'loss',
      step: step * 10,
      value: 0.04 + lr * 3000 * Math.exp(-step / 12),
    }));
    await api('POST', `/runs/${run.json.id}/metrics`, { metrics });
    if (name !== 'edm-karras') await api('PATCH', `/runs/${run.json.id}`, { status: 'succeeded' });
  }

  // A folder with two labels, uploaded through the file picker as a browser would.
  const files = ['happy/a.png', 'happy/b.png', 'sad/c.png', 'sad/d.png'];
  await page.goto(`${server.url}/projects/${projectId}/datasets`);
  await expect(page.getByText('mnist', { exact: true })).toBeVisible();
  await expect(page.getByText('shapes', { exact: true })).toBeVisible();
  await page.getByRole('button', { name: 'Upload version' }).click();
  await page.fill('input[name=datasetName]', 'faces');
  const folder = join(server.home, 'upload', 'faces');
  for (const [i, f] of files.entries()) {
    await mkdir(dirname(join(folder, f)), { recursive: true });
    await writeFile(join(folder, f), gradientPng(8 + i));
  }
  // A text file with an image's name: left out of the version, and named on the page.
  await writeFile(join(folder, 'sad', 'notes.png'), 'not a picture\n');
  await page.locator('input[webkitdirectory]').setInputFiles(folder);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await expect(page.getByRole('link', { name: 'v1', exact: true })).toBeVisible();
  await expect(page.locator('[data-upload-report]')).toContainText(
    'sad/notes.png: not a PNG, JPEG or WebP image: it is text (starting "not a picture")',
  );
  await page.getByRole('button', { name: 'Dismiss' }).click();
  const [version] = await server.sql`
    select v.file_count, v.manifest->'classes' as classes, v.dvc_md5 from dataset_versions v
    join datasets d on d.id = v.dataset_id where d.name = 'faces'`;
  expect(version).toMatchObject({ file_count: 4, classes: ['happy', 'sad'] });
  expect(version?.dvc_md5).toMatch(/\.dir$/);
  await shot(page, 'datasets', true);
  await page.getByRole('link', { name: 'v1', exact: true }).click();
  await expect(page.getByText('happy/a.png')).toBeVisible();
  await shot(page, 'dataset-version', true);

  await page.goto(`${server.url}/projects`);
  const card = page.locator('.project-card', { hasText: 'faces-64' });
  await expect(card).toContainText('3 runs');
  await expect(card).toContainText('3 datasets');
  await shot(page, 'projects');
  await page.goto(`${server.url}/agents`);
  // `anneal-server start` enrolled its local agent when the owner was created.
  await expect(page.locator('tr[data-agent=local]').getByText('online')).toBeVisible({
    timeout: 60_000,
  });
  await shot(page, 'agents');
});
