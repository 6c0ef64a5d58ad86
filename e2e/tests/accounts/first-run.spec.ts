import { expect, test } from '@playwright/test';
import { createOwner, OWNER, shot } from '../../support/flows.ts';
import { startServer, type TestServer } from '../../support/server.ts';

let server: TestServer;
test.beforeAll(async () => {
  server = await startServer();
});
test.afterAll(async () => {
  await server?.stop();
});

test('the first visit creates the owner, who can sign out and back in', async ({ page }) => {
  await page.goto(`${server.url}/projects`);
  await expect(page).toHaveURL(/\/setup$/);
  await shot(page, 'setup');
  await createOwner(page, server);
  await expect(page.getByText('No projects yet')).toBeVisible();

  const [owner] = await server.sql`
    select u.email, u.password_hash, m.role, o.name as org
    from users u join memberships m on m.user_id = u.id join organizations o on o.id = m.org_id`;
  expect(owner).toMatchObject({ email: OWNER.email, role: 'owner', org: OWNER.org });
  expect(owner?.password_hash).toMatch(/^scrypt\$/);

  const cookies = await page.context().cookies();
  expect(cookies.find((c) => c.name === 'anneal_session')?.httpOnly).toBe(true);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin/);
  const [{ n }] = (await server.sql`select count(*)::int as n from sessions`) as unknown as [
    { n: number },
  ];
  expect(n).toBe(0);

  // Setup is closed now: a second visitor is sent to sign in.
  await page.goto(`${server.url}/setup`);
  await expect(page).toHaveURL(/\/signin$/);
  await page.fill('input[name=email]', OWNER.email);
  await page.fill('input[name=password]', 'not the password');
  await page.click('button[type=submit]');
  await expect(page.getByText('wrong email or password')).toBeVisible();
  await shot(page, 'signin');
  await page.fill('input[name=password]', OWNER.password);
  await page.click('button[type=submit]');
  await expect(page).toHaveURL(/\/projects$/);
  await expect(page.getByText(OWNER.email)).toBeVisible();
});
