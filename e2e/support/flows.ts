import { expect, type Locator, type Page } from '@playwright/test';
import type { TestServer } from './server.ts';

export const OWNER = {
  email: 'owner@example.com',
  password: 'owner password 1',
  org: 'Acme Diffusion',
};

/**
 * Waits until React has hydrated the element: its DOM node then carries React's props.
 * Typed into before that, a controlled field is reset when React takes it over; clicked
 * before that, a submit can be lost (the page is served rendered, and on a busy machine its
 * scripts arrive seconds later).
 */
export async function hydrated(locator: Locator): Promise<void> {
  await expect
    .poll(
      () =>
        locator.evaluate((node) => Object.keys(node).some((k) => k.startsWith('__reactProps$'))),
      { timeout: 45_000, message: 'the form was never hydrated' },
    )
    .toBe(true);
}

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

export function createApiToken(page: Page, server: TestServer, name: string): Promise<string> {
  return createToken(page, server, name, 'api');
}

/** A token made in Settings as a user makes it; an agent token enrols a machine. */
export async function createToken(
  page: Page,
  server: TestServer,
  name: string,
  kind: 'api' | 'agent',
): Promise<string> {
  await page.goto(`${server.url}/settings`);
  const input = page.locator('input[name=tokenName]');
  await hydrated(page.getByRole('button', { name: 'Create token' }));
  await input.fill(name);
  await expect(input).toHaveValue(name);
  if (kind === 'agent') await page.selectOption('select[name=tokenKind]', 'agent');
  await page.getByRole('button', { name: 'Create token' }).click();
  // The token, or the form's refusal: a refusal fails here with its words, not as a timeout.
  const shown = page.getByTestId('new-token');
  const refused = page.locator('form.toolbar .error');
  try {
    await expect(shown.or(refused)).toBeVisible({ timeout: 45_000 });
  } catch (err) {
    // What the page held when the token never came: an emptied field (the form was
    // re-mounted, and `required` blocked the submit) reads differently from a slow server.
    const value = await input.inputValue({ timeout: 1_000 }).catch(() => '(no field)');
    throw new Error(
      `no token "${name}" 45 s after Create token, at ${page.url()}; the name field holds ${JSON.stringify(value)}`,
      { cause: err },
    );
  }
  if (await refused.isVisible())
    throw new Error(`creating token "${name}" was refused: ${await refused.textContent()}`);
  const token = (await shown.textContent())?.trim() ?? '';
  expect(token).toMatch(new RegExp(`^anneal_${kind}_`));
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
