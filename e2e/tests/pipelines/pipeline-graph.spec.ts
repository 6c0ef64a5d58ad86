import { AxeBuilder } from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { createApiToken, createOwner, createProject, rest, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  // No agent: the register node runs on the server, and the train node of the example stays
  // queued until the run is cancelled.
  server = await startServer({ localAgent: false });
});
test.afterAll(async () => {
  await server?.stop();
});

/** axe-core over the page as it is: no serious or critical violation, as tests/a11y asks. */
async function accessible(page: Page, name: string) {
  // Right after a client-side navigation Next may not have put the <title> back yet.
  await expect(page).toHaveTitle('Anneal');
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) => `${name}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
  expect(bad, bad.join('\n')).toEqual([]);
}

// Pipelines as a user sees them: the example spec in the "New pipeline" form is refused with
// the path of a mistake put into it and saved as it is; a one-node pipeline that points the
// alias a run param names at a registered version is edited (a mistake refused, a new param
// default saved), triggered from its Run form, its run page draws the node turning
// succeeded, and the node's outputs are what the registry now says. The example's four nodes
// are drawn in four columns, and Cancel stops that run and its queued train job.
test('create a pipeline, run it from the browser and follow its graph', async ({ page }) => {
  test.setTimeout(180_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'pipes');
  const api = rest(server, await createApiToken(page, server, 'e2e'));
  const source = await api('POST', `/projects/${projectId}/runs`, {
    name: 'shapes-train',
    status: 'succeeded',
  });
  const version = await api('POST', `/projects/${projectId}/models/shapes-small/versions`, {
    sourceRunId: source.json.id,
  });
  expect(version.status, JSON.stringify(version.json)).toBe(201);

  await page.goto(`${server.url}/projects/${projectId}`);
  await page.locator('nav.tabs').getByRole('link', { name: 'Pipelines' }).click();
  await expect(page).toHaveURL(/\/pipelines$/);
  await expect(page.getByText('No pipelines')).toBeVisible();

  // The example spec: a mistake in it is refused with its path, next to the spec.
  await page.getByRole('button', { name: 'New pipeline' }).click();
  const spec = page.locator('textarea[name=spec]');
  const example = await spec.inputValue();
  const parsed = JSON.parse(example);
  expect(parsed.nodes.map((n: { key: string }) => n.key)).toEqual([
    'train',
    'evaluate',
    'promote',
    'deploy',
  ]);
  expect(parsed.nodes[0].spec).toMatchObject({
    dataset: { kind: 'builtin', name: 'shapes' },
    resolution: 8,
    preset: 'tiny',
  });
  await page.fill('input[name=name]', 'ship');
  await spec.fill('{"nodes": [');
  await page.getByRole('button', { name: 'Create pipeline' }).click();
  await expect(page.getByTestId('spec-error')).toContainText('spec: not valid JSON');
  parsed.nodes[0].spec.resolution = 3;
  await spec.fill(JSON.stringify(parsed, null, 2));
  await page.getByRole('button', { name: 'Create pipeline' }).click();
  const specError = page.getByTestId('spec-error');
  await expect(specError).toContainText(/^spec\.nodes\.0\.spec\.resolution: /);
  await expect(specError).toContainText('in node “train”');
  await expect(spec).toHaveAttribute('aria-invalid', 'true');
  expect(await server.sql`select id from pipelines`).toHaveLength(0);
  await accessible(page, 'pipelines with a refused spec');
  await shot(page, 'pipeline-refused', true);

  // As it came, it saves.
  await spec.fill(example);
  await page.getByRole('button', { name: 'Create pipeline' }).click();
  await expect(page).toHaveURL(/\/pipelines\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('pipeline-name')).toHaveText('ship');
  await expect(page.locator('input[name="params.steps"]')).toHaveValue('400');
  await expect(page.locator('input[name="params.steps"]')).toHaveAttribute('type', 'number');
  await expect(page.getByTestId('spec-json')).toContainText('"resolution": 8');
  await shot(page, 'pipeline', true);

  // A pipeline that needs no agent: point the alias the run names at the registered version.
  await page.locator('nav.tabs').getByRole('link', { name: 'Pipelines' }).click();
  await page.getByRole('button', { name: 'New pipeline' }).click();
  await page.fill('input[name=name]', 'promote-staging');
  await page.fill('input[name=description]', 'point an alias at shapes-small v1');
  await spec.fill(
    JSON.stringify({
      params: { alias: 'candidate' },
      nodes: [
        {
          key: 'promote',
          kind: 'register',
          spec: { version_id: version.json.id, alias: '${params.alias}' },
        },
      ],
    }),
  );
  await page.getByRole('button', { name: 'Create pipeline' }).click();
  await expect(page).toHaveURL(/\/pipelines\/[0-9a-f-]{36}$/);
  await expect(page.getByText('Not run yet.')).toBeVisible();
  await accessible(page, 'a pipeline');
  const alias = page.locator('input[name="params.alias"]');
  await expect(alias).toHaveValue('candidate');

  // Edit mode: the saved spec as text; a mistake is refused with its path, a fix is saved
  // and the Run form takes the new default.
  await page.getByRole('button', { name: 'Edit' }).click();
  const saved = JSON.parse(await spec.inputValue());
  saved.nodes[0].retries = 9;
  await spec.fill(JSON.stringify(saved, null, 2));
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('spec-error')).toContainText(/^spec\.nodes\.0\.retries: /);
  saved.nodes[0].retries = 0;
  saved.params.alias = 'qa';
  await spec.fill(JSON.stringify(saved, null, 2));
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('spec-json')).toContainText('"alias": "qa"');
  await expect(alias).toHaveValue('qa');
  await alias.fill('staging');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page).toHaveURL(/\/pipelines\/runs\/[0-9a-f-]{36}$/);
  const runId = page.url().split('/').pop() as string;

  // The node turns succeeded; selecting it shows what it did.
  const promote = page.locator('button[data-node=promote]');
  await expect(promote).toHaveAttribute('data-status', 'succeeded');
  await expect(page.getByTestId('pipeline-run-status')).toHaveText('succeeded');
  await expect(page.getByTestId('param-alias')).toContainText('"staging"');
  await expect(page.getByText('Cancel run')).toHaveCount(0);
  const node = page.getByRole('button', { name: 'promote: register node, succeeded' });
  await node.click();
  await expect(node).toHaveAttribute('aria-pressed', 'true');
  const details = page.getByTestId('node-details');
  await expect(details).toContainText('shapes-small@staging -> v1');
  const outputs = page.getByTestId('node-outputs');
  await expect(outputs.locator('tr', { hasText: 'alias' })).toContainText('staging');
  await expect(outputs.locator('tr', { hasText: 'version_id' })).toContainText(version.json.id);
  await expect(outputs.getByRole('link', { name: 'shapes-small' })).toHaveAttribute(
    'href',
    `/projects/${projectId}/models/shapes-small`,
  );
  await accessible(page, 'a pipeline run');
  await shot(page, 'pipeline-run-node', true);

  const [moved] = await server.sql`
    select a.alias, a.version_id from model_aliases a
    join registered_models m on m.id = a.model_id where m.name = 'shapes-small'`;
  expect(moved).toMatchObject({ alias: 'staging', version_id: version.json.id });
  const [run] =
    await server.sql`select status, trigger, params from pipeline_runs where id = ${runId}`;
  expect(run).toMatchObject({
    status: 'succeeded',
    trigger: 'dashboard',
    params: { alias: 'staging' },
  });

  // The list links each pipeline's last run.
  await page.locator('nav.tabs').getByRole('link', { name: 'Pipelines' }).click();
  await expect(
    page.getByRole('link', { name: 'last run of promote-staging: succeeded' }),
  ).toHaveAttribute('href', `/projects/${projectId}/pipelines/runs/${runId}`);
  await expect(page.getByTestId('pipeline-runs').locator('tbody tr')).toHaveCount(1);
  await accessible(page, 'pipelines');

  // The example's run: four columns by dependency depth, five edges (promote and deploy also
  // read train's outputs), the train node running with its job queued; Cancel stops it.
  await page.getByRole('link', { name: 'ship', exact: true }).click();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await expect(page).toHaveURL(/\/pipelines\/runs\/[0-9a-f-]{36}$/);
  await expect(page.locator('button[data-node=train]')).toHaveAttribute('data-status', 'running');
  await expect(page.locator('[data-edge]')).toHaveCount(5);
  const xs: number[] = [];
  for (const key of ['train', 'evaluate', 'promote', 'deploy'])
    xs.push((await page.locator(`button[data-node=${key}]`).boundingBox())?.x ?? 0);
  expect(xs).toEqual([...xs].sort((a, b) => a - b));
  expect(new Set(xs).size).toBe(4);
  await expect(page.locator('button[data-node=deploy]')).toHaveAttribute('data-status', 'pending');
  await shot(page, 'pipeline-run', true);
  await page.getByRole('button', { name: 'Cancel run' }).click();
  await expect(page.getByTestId('pipeline-run-status')).toHaveText('cancelled');
  await expect(page.locator('button[data-node=train]')).toHaveAttribute('data-status', 'cancelled');
  const [job] = await server.sql`
    select j.status from jobs j join pipeline_nodes n on n.job_id = j.id where n.key = 'train'`;
  expect(job).toMatchObject({ status: 'cancelled' });
});
