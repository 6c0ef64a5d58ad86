import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { createOwner, createProject, createToken, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

const ANNEAL = fileURLToPath(new URL('../../../apps/agent/bin/anneal.js', import.meta.url));

let server: TestServer;
let second: ChildProcess | null = null;
let secondHome: string | null = null;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  second?.kill('SIGKILL');
  if (secondHome) rmSync(secondHome, { recursive: true, force: true });
  await server?.stop();
});

// Issue 18 part 3 as a user sees it: a second agent joins with a token made in Settings, a
// train job asks for 2 agents in the New job form, the two train it as one data-parallel
// group, and the run page shows the ranks, their throughput and the communication share.
test('a job on two agents: the New job form asks for 2, the run page shows the ranks', async ({
  page,
}) => {
  test.setTimeout(300_000);
  await createOwner(page, server);
  const projectId = await createProject(page, 'two-agents');

  const token = await createToken(page, server, 'mac-b', 'agent');
  secondHome = mkdtempSync(join(tmpdir(), 'anneal-e2e-agent-'));
  second = spawn(
    process.execPath,
    [ANNEAL, 'agent', '--server', server.url, '--token', token, '--name', 'mac-b'],
    {
      env: { ...process.env, ANNEAL_HOME: secondHome, OPENBLAS_NUM_THREADS: '1' },
      stdio: 'ignore',
    },
  );

  await page.goto(`${server.url}/agents`);
  await expect(page.locator('tr[data-agent=local]').getByText('online')).toBeVisible({
    timeout: 60_000,
  });
  await expect(page.locator('tr', { hasText: 'mac-b' }).getByText('online')).toBeVisible({
    timeout: 60_000,
  });

  await page.goto(`${server.url}/projects/${projectId}/jobs`);
  await page.getByRole('button', { name: 'New job' }).click();
  await page.selectOption('select[name=dataset]', 'shapes');
  await page.fill('input[name=resolution]', '8');
  await page.fill('input[name=steps]', '40');
  await page.fill('input[name=batch]', '8');
  await page.fill('input[name=checkpointEvery]', '20');
  await page.fill('input[name=logEvery]', '1');
  await page.fill('input[name=ranks]', '2');
  await page.getByRole('button', { name: 'Queue job' }).click();
  const row = page.locator('tr[data-job]').first();
  await expect(row.getByText('succeeded')).toBeVisible({ timeout: 180_000 });
  const [job] = await server.sql`select spec, attempts from jobs`;
  expect(job?.spec.ranks).toBe(2);
  expect(job?.attempts).toBe(1);

  const [run] = await server.sql`select id from runs where status = 'succeeded'`;
  await page.goto(`${server.url}/projects/${projectId}/runs/${run?.id}`);
  const ranks = page.getByTestId('run-ranks');
  await expect(ranks).toContainText('Data-parallel over 2 agents');
  await expect(ranks).toContainText(/The group trains [\d.]+ images\/s, [\d.]+ per rank\./);
  await expect(ranks).toContainText(/one all_sum of the gradient takes [\d.]+ ms, \d+% of a step/);
  const rows = ranks.getByTestId('run-ranks-table').locator('tbody tr');
  await expect(rows).toHaveCount(2);
  for (const i of [0, 1]) {
    await expect(rows.nth(i)).toContainText(/127\.0\.0\.1:\d+/);
    await expect(rows.nth(i)).toContainText('finished');
  }
  await expect(ranks.getByTestId('run-ranks-table')).toContainText('mac-b');
  await expect(page.getByTestId('chart-comm_share')).toBeVisible();
  await shot(page, 'run-ranks', true);
});
