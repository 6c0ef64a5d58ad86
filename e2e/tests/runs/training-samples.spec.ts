import { expect, type Page, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

async function agentOnline(page: Page) {
  await page.goto(`${server.url}/agents`);
  const agentRow = page.locator('tr[data-agent=local]');
  await expect(agentRow.getByText('online')).toBeVisible({ timeout: 60_000 });
}

// Issue 14 items 1 and 2 as a user sees them: a real tiny train job on the local agent logs
// a sample grid every 2 steps; its run page steps through them, shows them at integer
// scales, opens a lightbox and one image alone; a sample run made from it links back.
test('training samples: step slider, integer-scale lightbox, single image, lineage', async ({
  page,
}) => {
  test.setTimeout(300_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'samples');
  const api = rest(server, await createApiToken(page, server, 'e2e'));
  await agentOnline(page);

  const train = await api('POST', `/projects/${projectId}/jobs`, {
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        steps: 6,
        preset: 'tiny',
        batch: 8,
        checkpoint_every: 6,
        sample_every: 2,
      },
    },
  });
  expect(train.status, JSON.stringify(train.json)).toBe(201);
  const done = (id: string) =>
    expect
      .poll(async () => (await api('GET', `/jobs/${id}`)).json.status, { timeout: 150_000 })
      .toBe('succeeded');
  await done(train.json.id);
  const paths = await server.sql`
    select path from artifacts where run_id = ${train.json.runId} and path like 'samples/%'
    order by path`;
  expect(paths.map((p) => p.path)).toEqual([
    'samples/index.json',
    'samples/step-2.png',
    'samples/step-4.png',
    'samples/step-6.png',
  ]);

  const sample = await api('POST', `/projects/${projectId}/jobs`, {
    job: {
      type: 'sample',
      spec: { model: { kind: 'run', runId: train.json.runId }, n: 16, steps: 2, sampler: 'euler' },
    },
  });
  expect(sample.status, JSON.stringify(sample.json)).toBe(201);
  await done(sample.json.id);

  await page.goto(`${server.url}/projects/${projectId}/runs/${train.json.runId}`);
  const panel = page.getByTestId('training-samples');
  const image = panel.getByTestId('training-samples-image');
  const step = panel.getByTestId('training-samples-step');
  await expect(step).toHaveText('step 6');
  // 16 shapes of 8 px in 4 columns with 2 px gutters: a 42 px PNG, drawn whole-number larger.
  await expect(image).toHaveAttribute('data-scale', /^\d+$/);
  const scale = Number(await image.getAttribute('data-scale'));
  expect(scale).toBeGreaterThanOrEqual(4);
  expect(await image.evaluate((el) => (el as HTMLImageElement).width)).toBe(42 * scale);
  expect(await image.evaluate((el) => getComputedStyle(el).imageRendering)).toBe('pixelated');
  await panel.scrollIntoViewIfNeeded();
  await shot(page, 'run-training-samples');

  // The slider moves between the logged frames, and the image follows.
  const slider = panel.getByTestId('training-samples-slider');
  await slider.focus();
  await page.keyboard.press('ArrowLeft');
  await expect(step).toHaveText('step 4');
  await expect(image).toHaveAttribute('src', /step-4\.png/);
  await slider.fill('0');
  await expect(step).toHaveText('step 2');
  await expect(image).toHaveAttribute('src', /step-2\.png/);

  // Full size: a lightbox at an integer scale of the PNG; arrows step frames, Esc closes.
  await panel.getByRole('button', { name: 'Full size' }).click();
  const box = page.getByTestId('lightbox');
  await expect(box).toBeVisible();
  await expect(box.getByTestId('lightbox-frame')).toHaveText('step 2');
  const big = box.getByTestId('lightbox-image');
  await expect(big).toHaveAttribute('data-scale', /^\d+$/);
  const bigScale = Number(await big.getAttribute('data-scale'));
  expect(bigScale).toBeGreaterThanOrEqual(scale);
  expect(await big.evaluate((el) => (el as HTMLImageElement).width)).toBe(42 * bigScale);
  await expect(box.getByTestId('lightbox-scale')).toHaveText(`×${bigScale}`);
  await page.keyboard.press('ArrowRight');
  await expect(box.getByTestId('lightbox-frame')).toHaveText('step 4');
  await box.getByRole('button', { name: 'Zoom in' }).click();
  await expect(box.getByTestId('lightbox-scale')).toHaveText(`×${bigScale + 1}`);
  // A modal dialog keeps focus inside, both ways round.
  const focusInside = () => box.evaluate((el) => el.contains(document.activeElement));
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    expect(await focusInside()).toBe(true);
  }
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Shift+Tab');
    expect(await focusInside()).toBe(true);
  }
  await shot(page, 'run-samples-lightbox');
  await page.keyboard.press('Escape');
  await expect(box).toBeHidden();

  // A click on the second image (column 1, row 0) opens it alone with its class; the arrows
  // keep it while the frames change.
  await image.click({ position: { x: (2 + 10 + 4) * scale, y: (2 + 4) * scale } });
  await expect(box.getByTestId('lightbox-tile')).toHaveText('image 2 of 16 · class square');
  await expect(box.getByTestId('lightbox-frame')).toHaveText('step 4');
  await page.keyboard.press('ArrowRight');
  await expect(box.getByTestId('lightbox-frame')).toHaveText('step 6');
  await expect(box.getByTestId('lightbox-tile')).toHaveText('image 2 of 16 · class square');
  await shot(page, 'run-samples-single-image');
  await box.getByRole('button', { name: 'Whole grid' }).click();
  await expect(box.getByTestId('lightbox-tile')).toBeHidden();
  await page.keyboard.press('Escape');
  await expect(box).toBeHidden();

  // The train run lists the sample run made from it; that run links back and shows its grid
  // the same way.
  const [sampleRun] = await server.sql`select name from runs where id = ${sample.json.runId}`;
  const [trainRun] = await server.sql`select name from runs where id = ${train.json.runId}`;
  const children = page.getByTestId('run-lineage-children');
  await children.getByRole('link', { name: sampleRun?.name }).click();
  await expect(page).toHaveURL(new RegExp(`/runs/${sample.json.runId}$`));
  await expect(page.getByTestId('run-lineage-source')).toContainText(`train run ${trainRun?.name}`);
  await shot(page, 'run-sample-grid', true);
  const grid = page.getByTestId('sample-grid-image');
  await expect(grid).toHaveAttribute('data-scale', /^\d+$/);
  const gridScale = Number(await grid.getAttribute('data-scale'));
  expect(gridScale).toBeGreaterThanOrEqual(4);
  expect(await grid.evaluate((el) => (el as HTMLImageElement).width)).toBe(42 * gridScale);
  await grid.click({ position: { x: 4 * gridScale, y: 4 * gridScale } });
  await expect(page.getByTestId('lightbox-tile')).toHaveText('image 1 of 16');
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('lightbox')).toBeHidden();
});
