import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';
import { usePhoneBrowser } from '../helpers/browser';

/**
 * The portal in a real headless Chromium on the local stack: dave asks through the form without a
 * GUID, sam approves from "waiting for my decision", dave sees the grant with time left and revokes
 * it. Every page passes axe-core without serious violations; screenshots go to test-artifacts/.
 */

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'portal');
const stack = useStack();
afterEach(() => closeOpenRequests(stack()));
const browser = usePhoneBrowser('hsm-governor-portal-');
beforeAll(() => mkdirSync(ARTIFACTS, { recursive: true }));

/** No serious or critical accessibility violation, and a screenshot of the page. */
async function checkPage(page: Page, name: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect({ page: name, serious }).toEqual({ page: name, serious: [] });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function signInAs(page: Page, name: string, path: string): Promise<void> {
  await page.goto(`${stack().stack.endpoints.api}/.auth/logout`);
  await page.goto(`${stack().stack.endpoints.api}${path}`);
  await page.getByRole('heading', { name: 'Sign in as a Contoso persona' }).waitFor();
  await page.getByRole('button', { name }).click();
  await page.waitForURL((url) => url.pathname === path);
}

describe('the portal', () => {
  it('takes a request from the form through approval to revocation', async () => {
    const page = await browser().newPage();
    await signInAs(page, 'Dave DevOps', '/');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('My access');
    await checkPage(page, 'home-dave-before');

    await page.getByRole('navigation').getByRole('link', { name: 'Ask for access' }).click();
    await checkPage(page, 'ask');
    await page.getByLabel('Role and key').selectOption({ label: 'Crypto User on release-signing-key (rule release-signing)' });
    await page.getByLabel('For whom').selectOption({ label: 'app-vm (managed identity) (workload identity)' });
    await page.getByLabel('For how long').selectOption({ label: '1 hour' });
    await page.getByLabel('Why').fill('Release 1.4.0 <signing>');
    await page.getByRole('button', { name: 'Ask' }).click();
    await page.waitForURL(/\/api\/review\/[0-9a-f-]{36}\?t=/);
    const id = /\/api\/review\/([0-9a-f-]{36})/.exec(page.url())?.[1] as string;
    await expect(page.getByText('Release 1.4.0 <signing>').count()).resolves.toBe(1);
    await checkPage(page, 'request-pending');

    await signInAs(page, 'Sam Security', '/');
    await expect(page.getByRole('heading', { name: /Waiting for my decision \(\d+\)/ }).count()).resolves.toBe(1);
    await checkPage(page, 'home-sam-waiting');
    await page.locator(`a[href*="/api/review/${id}"]`).click();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/done=approve/);
    await checkPage(page, 'request-approved');

    await signInAs(page, 'Dave DevOps', '/');
    const row = page.locator('tr', { has: page.locator(`a[href*="/api/review/${id}"]`) });
    await expect(row.locator('[data-expires]').textContent()).resolves.toMatch(/left$/);
    await checkPage(page, 'home-dave-active');
    await row.getByRole('link', { name: 'Extend or revoke' }).click();
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.waitForURL(/done=revoke/);
    await checkPage(page, 'request-revoked');
    const status = ((await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string }).status;
    expect(status).toBe('Revoked');
    await page.close();
  }, 120_000);

  it('refuses a form posted without its CSRF token, and asks nothing', async () => {
    const before = ((await (await stack().api('/api/requests', { persona: 'dave' })).json()) as { items: unknown[] }).items.length;
    const page = await browser().newPage();
    await signInAs(page, 'Dave DevOps', '/ask');
    const answer = await browser().request.post(`${stack().stack.endpoints.api}/ask`, { form: { target: 'release-signing|Crypto User|/keys/release-signing-key', justification: 'forged' }, maxRedirects: 0 });
    expect(answer.status()).toBe(422);
    expect(await answer.text()).toContain('the form had expired or came from elsewhere');
    const after = ((await (await stack().api('/api/requests', { persona: 'dave' })).json()) as { items: unknown[] }).items.length;
    expect(after).toBe(before);
    await page.close();
  }, 60_000);
});
