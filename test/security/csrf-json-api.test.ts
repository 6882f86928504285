// Keeps out cross-site request forgery on the JSON API: another origin making a signed-in browser revoke, cancel or decide.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext } from 'playwright-core';
import { PERSONAS } from '../../dev/personas';
import { closeOpenRequests } from '../helpers/openRequests';
import { sessionCookie } from '../helpers/security';
import { useStack } from '../helpers/stack';

const CHROMIUM = '/usr/bin/chromium';
const APP_VM = PERSONAS['app-vm'].oid;
const stack = useStack();
let browser: BrowserContext;
let profile: string;
let attacker: Server;
let attackerOrigin: string;
/** The page the other origin serves: an empty form that posts itself to `target` as soon as it loads. */
let target = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  profile = mkdtempSync(join(tmpdir(), 'hsm-governor-csrf-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Another origin on the same host: the browser sends the SameSite=Lax session cookie to the app with its posts.
  attacker = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form method="post" action="${target}"></form><script>document.forms[0].submit()</script>`);
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerOrigin = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => attacker?.close(resolve));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function activeGrant(): Promise<string> {
  // One open request per access: end what an earlier test left running first.
  await closeOpenRequests(stack());
  const submitted = await stack().api('/api/requests', { persona: 'dave', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release' } });
  const id = ((await submitted.json()) as { id: string }).id;
  const approved = await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve' } });
  expect(((await approved.json()) as { status: string }).status).toBe('Active');
  return id;
}

async function statusOf(id: string): Promise<string> {
  return ((await (await stack().api(`/api/requests/${id}`, { persona: 'alice' })).json()) as { status: string }).status;
}

describe('the JSON API cannot be driven cross-site', () => {
  it('an auto-submitting form on another origin, in Chromium with sam signed in, does not revoke a grant', async () => {
    const id = await activeGrant();
    const [name, value] = (await sessionCookie(stack(), 'sam')).split('=') as [string, string];
    await browser.addCookies([{ name, value, url: stack().stack.endpoints.api, httpOnly: true, sameSite: 'Lax' }]);
    target = `${stack().stack.endpoints.api}/api/requests/${id}/revoke`;
    const page = await browser.newPage();
    const answered = page.waitForResponse((response) => response.url() === target);
    await page.goto(attackerOrigin);
    const response = await answered;
    expect(response.status()).toBe(403);
    expect(await response.json()).toMatchObject({ code: 'cross-site-request' });
    await page.close();
    expect(await statusOf(id)).toBe('Active');
  });

  it.each([
    ['text/plain', ''],
    ['application/x-www-form-urlencoded', ''],
    ['multipart/form-data; boundary=x', '--x--\r\n'],
  ])('a body-less %s post with the session cookie is refused and changes nothing', async (contentType, body) => {
    const id = await activeGrant();
    const cookie = await sessionCookie(stack(), 'sam');
    for (const action of ['revoke', 'cancel', 'extend']) {
      const response = await fetch(`${stack().stack.endpoints.api}/api/requests/${id}/${action}`, { method: 'POST', headers: { cookie, 'content-type': contentType }, body });
      expect({ action, status: response.status, type: response.headers.get('content-type') }).toEqual({ action, status: 415, type: 'application/problem+json' });
    }
    const noType = await fetch(`${stack().stack.endpoints.api}/api/requests/${id}/revoke`, { method: 'POST', headers: { cookie } });
    expect(noType.status).toBe(415);
    // Inbound events come through the Event Grid webhook, which only the host key opens: a session cookie is nothing there.
    const webhook = await fetch(`${stack().stack.endpoints.api}/runtime/webhooks/eventgrid?functionName=events-submit`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'aeg-event-type': 'Notification' }, body: '[]' });
    expect(webhook.status).toBe(401);
    expect(await statusOf(id)).toBe('Active');
  });

  it('a session-cookie call needs the CSRF token even as JSON; with it, it works', async () => {
    const id = await activeGrant();
    const session = await sessionCookie(stack(), 'sam');
    const api = stack().stack.endpoints.api;
    const withoutToken = await fetch(`${api}/api/requests/${id}/revoke`, { method: 'POST', headers: { cookie: session, 'content-type': 'application/json' } });
    expect(withoutToken.status).toBe(403);
    expect(await withoutToken.json()).toMatchObject({ code: 'csrf-token-required' });

    const issued = await fetch(`${api}/api/csrf-token`, { headers: { cookie: session } });
    const csrfCookie = (issued.headers.getSetCookie().find((c) => c.startsWith('hsmgov-csrf=')) as string).split(';')[0] as string;
    const { token } = (await issued.json()) as { token: string };
    const forged = await fetch(`${api}/api/requests/${id}/revoke`, { method: 'POST', headers: { cookie: `${session}; hsmgov-csrf=another-browser-nonce-0123456789`, 'content-type': 'application/json', 'x-csrf-token': token } });
    expect(await forged.json()).toMatchObject({ code: 'csrf-token-invalid' });
    const daveToken = (await (await fetch(`${api}/api/csrf-token`, { headers: { cookie: `${await sessionCookie(stack(), 'dave')}; ${csrfCookie}` } })).json()) as { token: string };
    const someoneElses = await fetch(`${api}/api/requests/${id}/revoke`, { method: 'POST', headers: { cookie: `${session}; ${csrfCookie}`, 'content-type': 'application/json', 'x-csrf-token': daveToken.token } });
    expect(await someoneElses.json()).toMatchObject({ code: 'csrf-token-invalid' });
    expect(await statusOf(id)).toBe('Active');

    const revoked = await fetch(`${api}/api/requests/${id}/revoke`, { method: 'POST', headers: { cookie: `${session}; ${csrfCookie}`, 'content-type': 'application/json', 'x-csrf-token': token, origin: api } });
    expect(revoked.status).toBe(200);
    expect(await statusOf(id)).toBe('Revoked');
  });

  it('a bearer call without Origin works; with a foreign Origin or Sec-Fetch-Site it is refused', async () => {
    const id = await activeGrant();
    const foreign = await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', method: 'POST', headers: { origin: attackerOrigin } });
    expect(await foreign.json()).toMatchObject({ code: 'cross-site-request' });
    const sameSite = await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', method: 'POST', headers: { 'sec-fetch-site': 'same-site' } });
    expect(await sameSite.json()).toMatchObject({ code: 'cross-site-request' });
    const reconcile = await stack().api('/api/reconcile?mode=plan', { persona: 'sam', method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } });
    expect(await reconcile.json()).toMatchObject({ code: 'cross-site-request' });
    expect(await statusOf(id)).toBe('Active');

    const revoked = await fetch(`${stack().stack.endpoints.api}/api/requests/${id}/revoke`, {
      method: 'POST', headers: { authorization: `Bearer ${await stack().tokenFor('sam')}`, 'content-type': 'application/json' },
    });
    expect(revoked.status).toBe(200);
    expect(await statusOf(id)).toBe('Revoked');
  });
});
