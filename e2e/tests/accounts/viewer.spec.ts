import { expect, test } from '@playwright/test';
import { createOwner, createProject, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

test('an invited viewer reads but cannot change anything', async ({ page, browser }) => {
  await createOwner(page, server);
  const projectId = await createProject(page, 'shared');
  await page.goto(`${server.url}/settings`);
  await page.fill('input[name=inviteEmail]', 'viewer@example.com');
  await page.selectOption('select[name=inviteRole]', 'viewer');
  await page.getByRole('button', { name: 'Create invite link' }).click();
  const link = (await page.getByTestId('invite-link').textContent())?.trim() ?? '';
  expect(link).toContain('/invite/');
  const [invite] = await server.sql`select email, role, accepted_at from invites`;
  expect(invite).toMatchObject({ email: 'viewer@example.com', role: 'viewer', accepted_at: null });
  await shot(page, 'settings', true);

  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  await viewer.goto(link);
  await expect(viewer.getByText('Join Acme Diffusion')).toBeVisible();
  await viewer.fill('input[name=password]', 'viewer password');
  await viewer.getByRole('button', { name: 'Accept invite' }).click();
  await expect(viewer).toHaveURL(/\/projects$/);
  const [member] = await server.sql`
    select m.role from memberships m join users u on u.id = m.user_id where u.email = 'viewer@example.com'`;
  expect(member?.role).toBe('viewer');

  // The viewer sees the project, but none of the controls that change things.
  await expect(viewer.getByRole('link', { name: /shared/ })).toBeVisible();
  await expect(viewer.getByRole('button', { name: 'New project' })).toHaveCount(0);
  await viewer.goto(`${server.url}/projects/${projectId}/models`);
  await expect(viewer.getByText('No registered models')).toBeVisible();
  await expect(viewer.getByRole('button', { name: 'Register version' })).toHaveCount(0);
  await viewer.goto(`${server.url}/settings`);
  await expect(viewer.getByText('Viewers cannot create tokens')).toBeVisible();
  await expect(viewer.getByRole('button', { name: 'Create invite link' })).toHaveCount(0);

  // And the server refuses even when the viewer calls the API from their session.
  const status = await viewer.evaluate(async () => {
    const res = await fetch('/api/trpc/projects.create', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sneaky' }),
    });
    return res.status;
  });
  expect(status).toBe(403);
  const restStatus = await viewer.evaluate(async (id) => {
    const res = await fetch(`/api/v1/projects/${id}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sneaky' }),
    });
    return res.status;
  }, projectId);
  expect(restStatus).toBe(403);
  const names = (await server.sql`select name from projects`).map((r) => r.name);
  expect(names).toEqual(['shared']);
  const [{ n }] = (await server.sql`select count(*)::int as n from runs`) as unknown as [
    { n: number },
  ];
  expect(n).toBe(0);
  await viewerContext.close();
});
