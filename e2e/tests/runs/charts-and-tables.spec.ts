import { expect, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest } from '../../support/flows.ts';
import { seedProject } from '../../support/seed.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  // No local agent: the seeded jobs stay as seeded (queued, or failed).
  server = await startServer({ localAgent: false });
});
test.afterAll(async () => {
  await server?.stop();
});

test('charts read in units, tables wrap and name things, datasets reach the New job form', async ({
  page,
}) => {
  test.setTimeout(180_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'first-hour');
  const token = await createApiToken(page, server, 'seed');
  const api = rest(server, token);

  // An empty project says how to start from the page first.
  await page.goto(`${server.url}/projects/${projectId}`);
  await expect(page.getByRole('link', { name: 'Go to Jobs' })).toBeVisible();
  const seeded = await seedProject(server, token, api, projectId);

  // Charts: axis titles with units, labels that fit, hover, smoothing and log scale.
  // Wide plain labels ("-950,000"): the widest a linear axis prints before 1e6 goes scientific.
  await api('POST', `/runs/${seeded.trainRunId}/metrics`, {
    metrics: [
      { key: 'samples_seen', step: 0, value: -950_000 },
      { key: 'samples_seen', step: 10, value: 980_000 },
    ],
  });
  await page.goto(`${server.url}/projects/${projectId}/runs/${seeded.trainRunId}`);
  const memory = page.getByTestId('chart-peak_memory_bytes');
  await expect(memory.getByTestId('y-axis-title')).toHaveText('peak memory (MiB)');
  await expect(memory.locator('.axis-label').first()).not.toHaveText(/000,000/);
  await expect(page.getByTestId('chart-images_per_s').getByTestId('y-axis-title')).toHaveText(
    'throughput (img/s)',
  );
  await expect(page.getByTestId('chart-lr').locator('.axis-label').first()).toHaveText(/e-/);
  // Every y label lies between the y-axis title and the plot: none is cut, none overlaps.
  for (const key of ['peak_memory_bytes', 'loss', 'lr', 'images_per_s', 'samples_seen']) {
    const chart = page.getByTestId(`chart-${key}`).locator('svg.chart');
    const title = await chart.getByTestId('y-axis-title').boundingBox();
    const plot = await chart.locator('.grid-line').first().boundingBox();
    const labels = await chart.locator('text.y-label').all();
    expect(labels.length, key).toBeGreaterThan(1);
    for (const label of labels) {
      const box = await label.boundingBox();
      expect(box?.x ?? -1, key).toBeGreaterThanOrEqual((title?.x ?? 0) + (title?.width ?? 0));
      expect((box?.x ?? 0) + (box?.width ?? Infinity), key).toBeLessThanOrEqual(plot?.x ?? 0);
    }
  }
  const loss = page.getByTestId('chart-loss');
  await loss.locator('svg.chart').hover({ position: { x: 300, y: 100 } });
  await expect(loss.getByTestId('chart-tooltip')).toContainText(/step \d+/);
  await expect(loss.getByTestId('chart-tooltip')).toContainText(/loss: 0\.\d+/);
  await loss.getByLabel('Smooth').check();
  await expect(loss.locator('polyline.series-raw')).toHaveCount(1);
  await loss.getByLabel('Log scale').check();
  await expect(loss.getByTestId('y-axis-title')).toHaveText('loss, log');
  // Params read as names, not JSON.
  await expect(page.locator('dl.kv')).toContainText('mnist');
  await expect(page.locator('dl.kv')).not.toContainText('{"kind"');

  // One evaluation point per metric: a table, not one-dot charts.
  await page.goto(`${server.url}/projects/${projectId}/runs/${seeded.evalRunId}`);
  await expect(page.getByTestId('metrics-table').locator('tbody tr')).toHaveCount(5);
  await expect(page.locator('svg.chart')).toHaveCount(0);

  // Compare: curves where a run has one, single points only in the latest-values table.
  await page.goto(
    `${server.url}/projects/${projectId}/compare?runs=${seeded.trainRunId},${seeded.evalRunId}`,
  );
  await expect(page.getByTestId('compare-chart-loss')).toBeVisible();
  await expect(page.getByTestId('compare-chart-fd')).toHaveCount(0);
  await expect(page.locator('tr', { hasText: 'peak_memory_bytes' })).toContainText('MiB');

  // Runs table: loss stays among the columns with kinds mixed; the picker adds one.
  await page.goto(`${server.url}/projects/${projectId}`);
  await expect(page.locator('thead th').filter({ hasText: /^loss/ })).toBeVisible();
  await page.locator('.column-picker summary').click();
  await page.locator('.column-picker-menu').getByLabel('recall').check();
  await expect(page.locator('thead th').filter({ hasText: /^recall/ })).toBeVisible();
  await page.reload();
  await expect(page.locator('thead th').filter({ hasText: /^recall/ })).toBeVisible();
  await page.selectOption('select[aria-label="Kind filter"]', 'train');
  await expect(page.getByTestId('run-count')).toHaveText('2 runs');
  await page.selectOption('select[aria-label="Kind filter"]', 'logged');
  await expect(page.getByTestId('run-count')).toHaveText('2 runs');

  // Jobs: a row names its dataset, preset and steps; a long error wraps inside the page.
  await page.goto(`${server.url}/projects/${projectId}/jobs`);
  await expect(page.getByTestId('job-title').filter({ hasText: 'pets v1' })).toContainText(
    'train · pets v1 · tiny · 50 steps',
  );
  await expect(page.getByText('failed').first()).toBeVisible();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(1440);
  // The error wraps in its cell rather than stretching the table (it is 2,000+ characters).
  const errorCell = page.locator('tr[data-job]', { hasText: 'shapes' }).locator('td').nth(1);
  expect((await errorCell.boundingBox())?.width ?? Infinity).toBeLessThan(700);
  const table = page.locator('tr[data-job]').first().locator('xpath=ancestor::table');
  expect((await table.boundingBox())?.width ?? Infinity).toBeLessThanOrEqual(1440);

  // The New job form offers the uploaded version and queues a job on it.
  await page.getByRole('button', { name: 'New job' }).click();
  await expect(page.locator('input[name=checkpointEvery]')).toHaveValue('500');
  await expect(page.locator('input[name=logEvery]')).toHaveValue('10');
  await page.selectOption('select[name=dataset]', { label: 'pets v1 (5 images)' });
  await expect(page.locator('input[name=resolution]')).toHaveValue('32');
  await page.fill('input[name=resolution]', '8');
  await page.getByRole('button', { name: 'Queue job' }).click();
  await expect(page.getByTestId('job-title').filter({ hasText: '500 steps' })).toContainText(
    'pets v1',
  );
  const [queued] = await server.sql`
    select spec->'dataset' as dataset, spec->'log_every' as log_every from jobs
    where spec->>'steps' = '500'`;
  expect(queued?.dataset).toMatchObject({ kind: 'version', id: seeded.versionId });
  expect(queued?.log_every).toBe(10);

  // The version page: counts and thumbnails per label, the held-out split, the upload report.
  await page.goto(`${server.url}/projects/${projectId}/datasets/${seeded.versionId}`);
  const labels = page.getByTestId('labels');
  await expect(labels.locator('tr[data-label=cat] img')).toHaveCount(3);
  await expect(labels.locator('tr[data-label=dog] img')).toHaveCount(2);
  // Every thumbnail loaded (lazy images are scrolled into view first), and its link opens
  // the file in the tab as an image rather than downloading it.
  for (const img of await labels.locator('img').all()) {
    await img.scrollIntoViewIfNeeded();
    await expect
      .poll(() => img.evaluate((i) => (i as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
  }
  const href = await labels.locator('a').first().getAttribute('href');
  const file = await page.request.get(`${server.url}${href}`);
  expect(file.headers()['content-type']).toBe('image/png');
  expect(file.headers()['content-disposition']).toMatch(/^inline;/);
  const counts = await labels
    .locator('tbody tr')
    .evaluateAll((rows) =>
      rows.map((r) => Array.from(r.querySelectorAll('td.num'), (c) => Number(c.textContent))),
    );
  expect(counts.flat().reduce((a, b) => a + b, 0)).toBe(5);
  const report = page.getByTestId('upload-report');
  await expect(report).toContainText('5 files imported, 1 image left out');
  await expect(report).toContainText('dog/notes.png');

  // Model version: lineage and no repeated steps tile.
  await page.goto(`${server.url}/projects/${projectId}/models/mnist-small`);
  await expect(page.getByText('1 version ·')).toBeVisible();
  await expect(page.locator('.tile .label', { hasText: /^steps$/ })).toHaveCount(1);

  // A favicon, so no page logs a 404 for it.
  const icon = await page.request.get(`${server.url}/favicon.ico`);
  expect(icon.status()).toBe(200);
  await expect(page.locator('link[rel=icon]').first()).toHaveAttribute('href', /icon/);

  // The projects list agrees in number.
  await page.goto(`${server.url}/projects`);
  await expect(page.locator('.project-card')).toContainText('1 model');
});
