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

test('runs logged through REST show their curves and artifacts, and compare', async ({ page }) => {
  await createOwner(page, server);
  const projectId = await createProject(page, 'mnist-distill');
  const [project] = await server.sql`select name from projects where id = ${projectId}`;
  expect(project?.name).toBe('mnist-distill');
  await expect(page.getByText('No runs yet')).toBeVisible();

  const token = await createApiToken(page, server, 'e2e script');
  const [stored] =
    await server.sql`select kind, token_hash, prefix from tokens where name = 'e2e script'`;
  expect(stored?.kind).toBe('api');
  expect(stored?.token_hash).not.toBe(token);
  expect(token.startsWith(stored?.prefix)).toBe(true);

  const api = rest(server, token);
  const teacher = await api('POST', `/projects/${projectId}/runs`, {
    name: 'teacher-1000',
    params: { lr: 0.0002, steps: 1000, sampler: 'ddpm', batch: 128 },
  });
  expect(teacher.status).toBe(201);
  const student = await api('POST', `/projects/${projectId}/runs`, {
    name: 'student-8',
    params: { lr: 0.0001, steps: 8, sampler: 'ddpm', batch: 128 },
    parentRunId: teacher.json.id,
  });
  for (const [run, scale] of [
    [teacher.json.id, 1],
    [student.json.id, 1.4],
  ] as const) {
    const metrics = Array.from({ length: 40 }, (_, step) => ({
      key: 'loss',
      step,
      value: scale * (0.05 + Math.exp(-step / 8)),
    }));
    expect((await api('POST', `/runs/${run}/metrics`, { metrics })).json.accepted).toBe(40);
  }
  const png = await api(
    'PUT',
    `/runs/${teacher.json.id}/artifacts/samples/grid.png`,
    gradientPng(),
    'application/octet-stream',
  );
  expect(png.status).toBe(201);
  await api('POST', `/runs/${teacher.json.id}/logs`, {
    lines: [
      { seq: 0, line: 'epoch 1: loss 0.41' },
      { seq: 1, line: 'epoch 2: loss 0.22' },
    ],
  });

  await page.goto(`${server.url}/projects/${projectId}`);
  await expect(page.getByRole('link', { name: 'teacher-1000' })).toBeVisible();
  await shot(page, 'runs');

  await page.getByRole('link', { name: 'teacher-1000' }).click();
  const chart = page.getByTestId('chart-loss');
  await expect(chart.locator('polyline')).toHaveCount(1);
  const points = (await chart.locator('polyline').getAttribute('points'))?.trim().split(' ') ?? [];
  expect(points).toHaveLength(40);
  const image = page.getByRole('img', { name: 'samples/grid.png' });
  await expect(image).toBeVisible();
  // Visible is not decoded: naturalWidth is 0 until the bytes arrive, so wait for them.
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(32);
  await expect(page.getByText('epoch 2: loss 0.22')).toBeVisible();

  // Live: a new point reaches the open page without a reload.
  await api('POST', `/runs/${teacher.json.id}/metrics`, {
    metrics: [{ key: 'fd', step: 1, value: 12.5 }],
  });
  // One point is a number, not a one-dot chart: it lands in the metrics table.
  await expect(page.getByTestId('metrics-table').locator('tr', { hasText: 'fd' })).toContainText(
    '12.5',
  );
  await expect(page.getByTestId('chart-fd')).toHaveCount(0);
  await shot(page, 'run', true);

  await page.goto(`${server.url}/projects/${projectId}`);
  await page.getByLabel('select teacher-1000').check();
  await page.getByLabel('select student-8').check();
  await page.getByRole('button', { name: /Compare/ }).click();
  const params = page.getByTestId('compare-params');
  await expect(params.getByText('steps')).toBeVisible();
  await expect(params.getByText('lr')).toBeVisible();
  // Identical params stay hidden until asked for.
  await expect(params.getByText('batch')).toHaveCount(0);
  await expect(page.getByTestId('compare-chart-loss').locator('polyline')).toHaveCount(2);
  await shot(page, 'compare', true);
  await page.getByLabel('Show identical params').check();
  await expect(params.getByText('batch')).toBeVisible();

  // Ending a run from its page is recorded with an end time.
  await page.goto(`${server.url}/projects/${projectId}/runs/${student.json.id}`);
  await page.getByRole('button', { name: 'Mark succeeded' }).click();
  await expect(page.locator('.badge.succeeded')).toBeVisible();
  const [ended] = await server.sql`select status, ended_at from runs where id = ${student.json.id}`;
  expect(ended?.status).toBe('succeeded');
  expect(ended?.ended_at).not.toBeNull();
});
