import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';
import { usePhoneBrowser } from '../helpers/browser';
import { openReviewPage, sessionCookie } from '../helpers/security';
import { PERSONAS } from '../../dev/personas';

/**
 * The portal in a real headless Chromium on the local stack: dave asks through the form without a
 * GUID, sam approves from "waiting for my decision", dave sees the grant with time left and revokes
 * it. The same form asks for the management plane; the pages work without JavaScript. Every page
 * passes axe-core without serious violations; screenshots go to test-artifacts/portal/.
 */

const APP_VM = PERSONAS['app-vm'].oid;
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
    // Dave approves nothing: his home has no "waiting for my decision".
    await expect(page.getByRole('heading', { name: /Waiting for my decision/ }).count()).resolves.toBe(0);
    await checkPage(page, 'home-dave-before');

    await page.getByRole('navigation').getByRole('link', { name: 'Ask for access' }).click();
    // Both planes are offered: the HSM's keys and the Azure resource of the management plane.
    await expect(page.locator('#target optgroup').evaluateAll((groups) => groups.map((g) => g.getAttribute('label')))).resolves.toEqual(['HSM keys (data plane)', 'Azure resource (management plane)']);
    await checkPage(page, 'ask');
    await page.getByLabel('Role and key').selectOption({ label: 'Crypto User on release-signing-key (rule release-signing)' });
    await page.getByLabel('For whom').selectOption({ label: 'app-vm (managed identity) (workload identity)' });
    await page.getByLabel('For how long').selectOption({ label: '1 hour' });
    await page.getByLabel('Why').fill('Release 1.4.0 <signing>');
    await page.getByRole('button', { name: 'Ask' }).click();
    await page.waitForURL(/\/requests\/[0-9a-f-]{36}$/);
    const id = /\/requests\/([0-9a-f-]{36})/.exec(page.url())?.[1] as string;
    await expect(page.getByText('Release 1.4.0 <signing>').count()).resolves.toBe(1);
    await expect(page.getByText('0 of 1 approvals').count()).resolves.toBe(1);
    await expect(page.getByRole('button', { name: 'Cancel request' }).count()).resolves.toBe(1);
    await checkPage(page, 'request-pending');

    await signInAs(page, 'Sam Security', '/');
    const waiting = page.getByRole('heading', { name: /Waiting for my decision \(\d+\)/ });
    await expect(waiting.textContent()).resolves.not.toBe('Waiting for my decision (0)');
    await expect(page.locator(`a[href="/requests/${id}"]`).count()).resolves.toBe(1);
    await checkPage(page, 'home-sam-waiting');
    await page.getByRole('link', { name: 'Decide them in Approvals' }).click();
    const card = page.locator('article', { has: page.locator(`a[href="/requests/${id}"]`) });
    await expect(card.getByText('0 of 1 approvals').count()).resolves.toBe(1);
    await checkPage(page, 'approvals-sam');
    await card.getByLabel('Comment (optional)').fill('ok for 1.4.0');
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/\/approvals\?done=approve/);
    await expect(page.getByRole('status').textContent()).resolves.toBe('Your approval was recorded.');
    await expect(page.locator(`a[href="/requests/${id}"]`).count()).resolves.toBe(0);
    await checkPage(page, 'approvals-sam-after');
    await page.goto(`${stack().stack.endpoints.api}/requests/${id}`);
    await expect(page.locator('.status').textContent()).resolves.toBe('Active');
    await expect(page.getByText('ok for 1.4.0', { exact: true }).count()).resolves.toBe(1);
    await checkPage(page, 'request-active-sam');

    await signInAs(page, 'Dave DevOps', '/');
    const row = page.locator('tr', { has: page.locator(`a[href="/requests/${id}"]`) });
    // The countdown: the server's words, then the page's script counting down.
    await expect(row.locator('[data-expires]').textContent()).resolves.toMatch(/^59 min \d+ s left$/);
    await checkPage(page, 'home-dave-active');
    await row.getByRole('button', { name: /^Revoke / }).click();
    await page.waitForURL(/\/\?done=revoke$/);
    await expect(page.getByRole('status').textContent()).resolves.toBe('The grant was revoked.');
    await expect(page.locator(`a[href="/requests/${id}"]`).count()).resolves.toBe(0);
    await checkPage(page, 'home-dave-revoked');
    await page.goto(`${stack().stack.endpoints.api}/requests/${id}`);
    await expect(page.locator('.status').textContent()).resolves.toBe('Revoked');
    await checkPage(page, 'request-revoked');
    const status = ((await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string }).status;
    expect(status).toBe('Revoked');
    await page.close();
  }, 120_000);

  it('asks for the management plane through the same form, the ticket checked as it is typed', async () => {
    const page = await browser().newPage();
    await signInAs(page, 'Dave DevOps', '/ask');
    await page.getByLabel('Role and key').selectOption({ label: 'Managed HSM Contributor on ContosoMHSM (Azure resource) (rule devops-hsm-contributor)' });
    // The script fits the form to the rule: Dave may ask for himself only, with a change ticket.
    await expect(page.locator('#grantee option:checked').textContent()).resolves.toBe('Dave DevOps (you)');
    await page.getByLabel(/^Ticket/).fill('CHG-');
    await expect(page.locator('#ticket-check').textContent()).resolves.toBe('Not yet: the ticket must match ^CHG-\\d+$.');
    await page.getByLabel(/^Ticket/).fill('CHG-4711');
    await expect(page.locator('#ticket-check').textContent()).resolves.toBe('The ticket matches ^CHG-\\d+$.');
    await checkPage(page, 'ask-management-plane');
    await page.getByLabel('Why').fill('Network rules for the 1.4.0 release');
    await page.getByRole('button', { name: 'Ask' }).click();
    await page.waitForURL(/\/requests\/[0-9a-f-]{36}$/);
    await expect(page.getByText('Azure RBAC (management plane)').count()).resolves.toBe(1);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toMatch(/^Managed HSM Contributor on \/subscriptions\//);
    await checkPage(page, 'request-management-plane');
    await page.close();
  }, 60_000);

  it('works without JavaScript: times and time left in words, the Extend form posts, and the approver sees the extension', async () => {
    const asked = await stack().api('/api/requests', { persona: 'dave', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT2H', justification: 'no script' } });
    const id = ((await asked.json()) as { id: string }).id;
    expect((await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve' } })).status).toBe(200);

    // The request's page: sign in first; someone who may not see the request learns nothing.
    const anonymous = await fetch(`${stack().stack.endpoints.api}/requests/${id}`, { redirect: 'manual' });
    expect({ status: anonymous.status, location: anonymous.headers.get('location') }).toEqual({ status: 302, location: `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(`/requests/${id}`)}` });
    expect((await fetch(`${stack().stack.endpoints.api}/requests/${id}`, { headers: { cookie: await sessionCookie(stack(), 'dana') } })).status).toBe(404);

    const dave = await sessionCookie(stack(), 'dave');
    const home = await openReviewPage(`${stack().stack.endpoints.api}/`, dave);
    expect(home.html).toMatch(/<td data-label="Time left"><span data-expires="[^"]+">(1 hour 59 minutes|2 hours) left<\/span>/);
    expect(home.html).toMatch(/<time datetime="[^"]+" title="[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} [\d:]{8} GMT">\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC<\/time>/);
    const extended = await fetch(`${stack().stack.endpoints.api}/requests/${id}`, {
      method: 'POST', redirect: 'manual',
      headers: { cookie: `${dave}; ${home.csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded', origin: stack().stack.endpoints.api },
      body: new URLSearchParams({ action: 'extend', duration: 'PT1H', csrf: home.csrf, version: home.version, next: 'home' }).toString(),
    });
    expect({ status: extended.status, location: extended.headers.get('location') }).toEqual({ status: 303, location: '/?done=extend' });

    const sam = await sessionCookie(stack(), 'sam');
    const queue = await (await fetch(`${stack().stack.endpoints.api}/approvals`, { headers: { cookie: sam } })).text();
    expect(queue).toContain(`href="/requests/${id}"`);
    expect(queue).toContain('0 of 1 approvals of the extension');
  }, 60_000);

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
