import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest } from '../../support/flows.ts';
import { gradientPng } from '../../support/png.ts';
import { seedProject } from '../../support/seed.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer({ localAgent: false });
});
test.afterAll(async () => {
  await server?.stop();
});

// axe-core over every main page of a seeded project: no serious or critical violation.
test('the main pages have no serious or critical accessibility violations', async ({ page }) => {
  test.setTimeout(240_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'a11y');
  const token = await createApiToken(page, server, 'seed');
  const seeded = await seedProject(server, token, rest(server, token), projectId);
  const p = `/projects/${projectId}`;
  const pages: [string, string, string][] = [
    ['projects', '/projects', '.project-card'],
    ['a project (runs)', p, 'table'],
    ['jobs', `${p}/jobs`, 'table'],
    ['a run', `${p}/runs/${seeded.trainRunId}`, 'svg.chart'],
    ['an evaluation run', `${p}/runs/${seeded.evalRunId}`, '[data-testid=metrics-table]'],
    ['compare', `${p}/compare?runs=${seeded.trainRunId},${seeded.evalRunId}`, 'table'],
    ['models', `${p}/models`, 'table'],
    ['a model', `${p}/models/mnist-small`, '.lineage'],
    ['datasets', `${p}/datasets`, '.card'],
    ['a dataset version', `${p}/datasets/${seeded.versionId}`, '[data-testid=labels]'],
    ['agents', '/agents', '.card'],
    ['settings', '/settings', 'input[name=tokenName]'],
  ];
  const found: string[] = [];
  const check = async (name: string) => {
    const { violations } = await new AxeBuilder({ page }).analyze();
    for (const v of violations)
      if (v.impact === 'serious' || v.impact === 'critical')
        found.push(
          `${name}: ${v.id} (${v.impact}) ${v.help}\n${v.nodes
            .slice(0, 3)
            .map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.split('\n')[1] ?? ''}`)
            .join('\n')}`,
        );
  };
  for (const [name, path, ready] of pages) {
    await page.goto(`${server.url}${path}`);
    await expect(page.locator(ready).first()).toBeVisible();
    await check(name);
  }
  // The notice an upload leaves on the datasets page: its muted line on the accent background.
  await page.goto(`${server.url}${p}/datasets`);
  await page.getByRole('button', { name: 'Upload version' }).click();
  await page.fill('input[name=datasetName]', 'a11y-upload');
  const folder = join(server.home, 'upload', 'a11y');
  await mkdir(join(folder, 'cats'), { recursive: true });
  await writeFile(join(folder, 'cats', 'a.png'), gradientPng(8));
  await writeFile(join(folder, 'cats', 'b.png'), gradientPng(9));
  await writeFile(join(folder, 'cats', 'bad.png'), 'not a picture\n');
  await writeFile(join(folder, 'cats', 'notes.txt'), 'notes\n');
  await page.locator('input[webkitdirectory]').setInputFiles(folder);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await expect(page.locator('[data-upload-report] .muted')).toBeVisible();
  await check('datasets after an upload');
  expect(found, found.join('\n')).toEqual([]);
});
