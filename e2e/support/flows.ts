import { expect, type Page } from '@playwright/test';
import type { TestServer } from './server.ts';

export const OWNER = {
  email: 'owner@example.com',
  password: 'owner password 1',
  org: 'Acme Diffusion',
};

/** The first-run form, as the first visitor fills it. */
export async function createOwner(page: Page, server: TestServer): Promise<void> {
  await page.goto(`${server.url}/`);
  await expect(page).toHaveURL(/\/setup$/);
  await page.fill('input[name=orgName]', OWNER.org);
  await page.fill('input[name=email]', OWNER.email);
  await page.fill('input[name=password]', OWNER.password);
  await page.click('button[type=submit]');
  await expect(page).toHaveURL(/\/projects$/);
}

export async function createProject(page: Page, name: string): Promise<string> {
  await page.getByRole('button', { name: 'New project' }).first().click();
  await page.fill('input[name=projectName]', name);
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page).toHaveURL(/\/projects\/[0-9a-f-]{36}$/);
  return page.url().split('/').pop() as string;
}

export async function createApiToken(
  page: Page,
  server: TestServer,
  name: string,
): Promise<string> {
  await page.goto(`${server.url}/settings`);
  await page.fill('input[name=tokenName]', name);
  await page.getByRole('button', { name: 'Create token' }).click();
  // The token, or the form's refusal: a refusal fails here with its words, not as a timeout.
  const shown = page.getByTestId('new-token');
  const refused = page.locator('form.toolbar .error');
  await expect(shown.or(refused), `token "${name}" after Create token`).toBeVisible({
    timeout: 45_000,
  });
  if (await refused.isVisible())
    throw new Error(`creating token "${name}" was refused: ${await refused.textContent()}`);
  const token = (await shown.textContent())?.trim() ?? '';
  expect(token).toMatch(/^anneal_api_/);
  return token;
}

/** A REST client with an API token, as a script or an agent uses it. */
export function rest(server: TestServer, token: string) {
  return async function call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ) {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': contentType }),
      },
      body:
        body === undefined
          ? undefined
          : body instanceof Uint8Array
            ? Buffer.from(body)
            : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
}

/**
 * A screenshot of the page: into docs/screenshots when ANNEAL_SCREENSHOTS=1 (`npm run
 * screenshots -w @anneal/e2e`), else under test-results so plain test runs leave the
 * committed images alone.
 */
export async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  const dir =
    process.env.ANNEAL_SCREENSHOTS === '1' ? '../docs/screenshots' : 'test-results/screenshots';
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage });
}
