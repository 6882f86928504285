import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { PERSONAS } from '../../dev/personas';
import { signReviewToken } from '../../shared/domain';
import { waitFor, waitUntil } from '../helpers/poll';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';
import { usePhoneBrowser } from '../helpers/browser';

/**
 * The review page in a real headless Chromium: from the mail sink's message and from the Teams
 * card's Review button to a decision, after signing in. And that a link scanner (no session, HEAD,
 * a scanner's GET) changes nothing.
 */

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
const APP_VM = PERSONAS['app-vm'].oid;
const stack = useStack();
// One open request per access: each test asks for the same release access afresh.
afterEach(() => closeOpenRequests(stack()));
const browser = usePhoneBrowser('hsm-governor-chromium-');
beforeAll(() => mkdirSync(ARTIFACTS, { recursive: true }));

async function submit(persona: string, justification: string): Promise<string> {
  const response = await stack().api('/api/requests', { persona, body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification } });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function statusOf(id: string): Promise<string> {
  return ((await (await stack().api(`/api/requests/${id}`, { persona: 'alice' })).json()) as { status: string }).status;
}

function reviewLinkIn(text: string, id: string): string {
  const match = new RegExp(`https?://[^\\s"<>]+/api/review/${id}\\?t=[A-Za-z0-9_.%-]+`).exec(text);
  if (!match) throw new Error(`No review link for ${id} in: ${text}`);
  return match[0];
}

async function signInAs(page: Page, name: string): Promise<void> {
  await page.getByRole('heading', { name: 'Sign in as a Contoso persona' }).waitFor();
  await page.getByRole('button', { name }).click();
}

async function sessionCookie(persona: string): Promise<string> {
  const response = await fetch(`${stack().stack.endpoints.api}/.auth/login/dev`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `persona=${persona}&post_login_redirect_uri=/`,
  });
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('AppServiceAuthSession='));
  if (!cookie) throw new Error('no session cookie');
  return cookie.split(';')[0] as string;
}

describe('the review page in a browser', () => {
  it('sam opens the link in the mail sink, signs in and approves: the grant is Active', async () => {
    const id = await submit('dave', 'Release 2.1 <signing> window');
    const mail = await waitFor('the approvers\' email', () => stack().stack.mailSink.messages().find((m) => m.headers['x-hsm-governor-request'] === id && m.to.includes('security-team@contoso.example')));
    expect(mail.subject).toBe(`[HSM access] Crypto User on /keys/release-signing-key for app-vm (#${id.slice(0, 8)}): approval needed`);

    const page = await browser().newPage();
    await page.goto(stack().stack.mailSink.url);
    await page.getByRole('link', { name: mail.subject }).first().click();
    await page.frameLocator('iframe').getByRole('link', { name: 'Review' }).click();
    await page.waitForURL(/\/\.auth\/login\/dev/);
    await signInAs(page, 'Sam Security');
    await page.waitForURL(new RegExp(`/api/review/${id}\\?t=`));
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Managed HSM Crypto User on /keys/release-signing-key');
    await expect(page.getByText('Release 2.1 <signing> window').count()).resolves.toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'review-page-approve.png'), fullPage: true });

    await page.getByLabel('Comment (optional)').fill('release window agreed');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/done=approve/);
    await expect(page.getByRole('status').textContent()).resolves.toBe('Your approval was recorded.');
    await expect(page.locator('.status').textContent()).resolves.toBe('Active');
    await page.screenshot({ path: join(ARTIFACTS, 'review-page-approved.png'), fullPage: true });
    await page.close();

    expect(await statusOf(id)).toBe('Active');
    const request = (await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { decisions: Array<{ by: string; comment: string }> };
    expect(request.decisions).toEqual([expect.objectContaining({ by: PERSONAS.sam.oid, comment: 'release window agreed' })]);
  });

  it('sam presses Review on the Teams card, signs in and denies', async () => {
    stack().stack.teamsSink.clear();
    const id = await submit('dana', 'Hotfix 2.1.1');
    await waitUntil('the card', () => stack().stack.teamsSink.cards().length > 0);

    const page = await browser().newPage();
    await page.goto(`${stack().stack.endpoints.api}/.auth/logout`);
    await page.goto(stack().stack.teamsSink.url);
    await page.waitForSelector('body[data-rendered="1"]');
    const card = page.locator('section.post .card').first();
    await expect(card.getByText(`Approval needed: Crypto User on /keys/release-signing-key for app-vm (#${id.slice(0, 8)})`).count()).resolves.toBe(1);
    await expect(card.getByText('Dana DevOps', { exact: true }).count()).resolves.toBe(1);
    await card.screenshot({ path: join(ARTIFACTS, 'teams-card.png') });

    await card.getByRole('link', { name: 'Review' }).click();
    await page.waitForURL(/\/\.auth\/login\/dev/);
    await signInAs(page, 'Sam Security');
    await page.waitForURL(new RegExp(`/api/review/${id}\\?t=`));
    await page.getByLabel('Comment (optional)').fill('not during the freeze');
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL(/done=deny/);
    await expect(page.locator('.status').textContent()).resolves.toBe('Denied');
    await page.screenshot({ path: join(ARTIFACTS, 'review-page-denied.png'), fullPage: true });
    await page.close();
    expect(await statusOf(id)).toBe('Denied');
  });
});

describe('the review link on its own changes nothing', () => {
  it('no session, HEAD and a scanner\'s GET leave the request and the audit trail as they were', async () => {
    const id = await submit('dave', 'scanner check');
    const mail = await waitFor('the email', () => stack().stack.mailSink.messages().find((m) => m.headers['x-hsm-governor-request'] === id));
    const link = reviewLinkIn(mail.text, id);
    const auditBefore = (await stack().ledger().audit()).length;
    const historyBefore = (await stack().ledger().get(id))?.request.history.length;

    const anonymous = await fetch(link, { redirect: 'manual' });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toBe(`/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(new URL(link).pathname + new URL(link).search)}`);
    const head = await fetch(link, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(302);
    const scanner = await fetch(link, { headers: { 'user-agent': 'Mozilla/5.0 (compatible; SafeLinks link scanner)', accept: '*/*' } });
    expect(scanner.status).toBe(200);
    expect(scanner.url).toContain('/.auth/login/dev');
    const sam = await sessionCookie('sam');
    const signedInHead = await fetch(link, { method: 'HEAD', headers: { cookie: sam } });
    expect(signedInHead.status).toBe(200);
    const signedInGet = await fetch(link, { headers: { cookie: sam } });
    expect(signedInGet.status).toBe(200);
    expect(signedInGet.headers.get('referrer-policy')).toBe('same-origin');
    expect(await signedInGet.text()).toContain('value="approve"');
    // A POST without the page's CSRF token and cookie (a forged form) is refused too.
    const forged = await fetch(link, { method: 'POST', headers: { cookie: sam, 'content-type': 'application/x-www-form-urlencoded' }, body: 'action=approve', redirect: 'manual' });
    expect(forged.status).toBe(403);
    // An edited or expired token opens nothing.
    const keys = stack().stack.appSettings.REVIEW_LINK_KEYS!.split(',');
    const expired = `${stack().stack.endpoints.api}/api/review/${id}?t=${signReviewToken(id, new Date(Date.now() - 1000), keys)}`;
    expect((await fetch(expired, { headers: { cookie: sam } })).status).toBe(410);
    expect((await fetch(link.replace(/(t=[^.]+\.)(.)/, (_, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`), { headers: { cookie: sam } })).status).toBe(404);
    // Another access (one open request per access): Sara's own use of another key.
    const other = await stack().api('/api/requests', { persona: 'sara', body: { role: 'Crypto User', scope: '/keys/another-key', duration: 'PT1H', justification: 'another' } });
    expect(other.status).toBe(201);
    const otherId = ((await other.json()) as { id: string }).id;
    expect((await fetch(link.replace(`/review/${id}`, `/review/${otherId}`), { headers: { cookie: sam } })).status).toBe(404);

    expect(await statusOf(id)).toBe('Pending');
    expect((await stack().ledger().get(id))?.request.history.length).toBe(historyBefore);
    expect((await stack().ledger().audit()).filter((r) => r.requestId === id).length).toBe(1);
    expect((await stack().ledger().audit()).length).toBe(auditBefore + 1); // only the other request's creation
  });

  it('a decision on a request that changed meanwhile shows what happened instead; the requester cancels from the page', async () => {
    const id = await submit('dave', 'race');
    const mail = await waitFor('the email', () => stack().stack.mailSink.messages().find((m) => m.headers['x-hsm-governor-request'] === id));
    const link = reviewLinkIn(mail.text, id);
    const sam = await sessionCookie('sam');
    const opened = await fetch(link, { headers: { cookie: sam } });
    const csrfCookie = (opened.headers.getSetCookie().find((c) => c.startsWith('hsmgov-csrf=')) as string).split(';')[0] as string;
    const html = await opened.text();
    const field = (name: string): string => (new RegExp(`name="${name}" value="([^"]+)"`).exec(html) as RegExpExecArray)[1] as string;

    // Meanwhile dave cancels it from his own page.
    const dave = await sessionCookie('dave');
    const davePage = await fetch(link, { headers: { cookie: dave } });
    const daveHtml = await davePage.text();
    expect(daveHtml).toContain('value="cancel"');
    expect(daveHtml).not.toContain('value="approve"');
    const daveCsrf = (davePage.headers.getSetCookie().find((c) => c.startsWith('hsmgov-csrf=')) as string).split(';')[0] as string;
    const daveField = (name: string): string => (new RegExp(`name="${name}" value="([^"]+)"`).exec(daveHtml) as RegExpExecArray)[1] as string;
    const cancelled = await fetch(link, {
      method: 'POST', redirect: 'manual',
      headers: { cookie: `${dave}; ${daveCsrf}`, 'content-type': 'application/x-www-form-urlencoded', origin: stack().stack.endpoints.api },
      body: new URLSearchParams({ action: 'cancel', csrf: daveField('csrf'), version: daveField('version') }).toString(),
    });
    expect(cancelled.status).toBe(303);
    expect(await statusOf(id)).toBe('Cancelled');

    const late = await fetch(link, {
      method: 'POST', redirect: 'manual',
      headers: { cookie: `${sam}; ${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded', origin: stack().stack.endpoints.api },
      body: new URLSearchParams({ action: 'approve', comment: 'late', csrf: field('csrf'), version: field('version') }).toString(),
    });
    expect(late.status).toBe(409);
    const page = await late.text();
    expect(page).toContain('The request changed while you had this page open; it is now Cancelled.');
    expect(page).toContain('cancelled by the requester');
    expect(((await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { decisions: unknown[] }).decisions).toEqual([]);
    // A post from another site is refused even with a valid token and cookie.
    const crossSite = await fetch(link, {
      method: 'POST', redirect: 'manual',
      headers: { cookie: `${sam}; ${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ action: 'approve', csrf: field('csrf'), version: field('version') }).toString(),
    });
    expect(crossSite.status).toBe(403);
  });
});
