// Keeps report links from stranding people on raw 401 JSON: a browser signs in and comes back, refusals are pages, the return URL stays on this site.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { useStack } from '../helpers/stack';

const CHROMIUM = '/usr/bin/chromium';
const stack = useStack();
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  expect((await stack().api('/api/reconcile?mode=plan', { persona: 'sam', method: 'POST' })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

/** Opens a report link in a fresh browser, signs in as `persona` on the page it is sent to, and returns the page it lands on. */
async function openSignedIn(path: string, persona: string): Promise<{ page: Page; status: number | undefined; type: string | undefined }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${stack().stack.endpoints.api}${path}`);
  await page.getByRole('heading', { name: 'Sign in as a Contoso persona' }).waitFor();
  const [landed] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === path.split('?')[0]), page.getByRole('button', { name: persona }).click()]);
  await page.waitForLoadState();
  return { page, status: landed.status(), type: landed.headers()['content-type'] };
}

describe('report links in a browser', () => {
  it('without a session: sign-in, then back to the report with its query', async () => {
    const { page, status, type } = await openSignedIn('/api/reports/access?key=app-signing-key', 'Alice Auditor');
    expect({ status, type }).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
    expect(new URL(page.url()).search).toBe('?key=app-signing-key');
    await page.getByRole('heading', { name: 'Who can do what on each key' }).waitFor();
    await page.context().close();
  });

  it('someone who may not read reports gets a page that says so, not JSON', async () => {
    const { page, status, type } = await openSignedIn('/api/reports/keys', 'Dave DevOps');
    expect({ status, type }).toEqual({ status: 403, type: 'text/html; charset=utf-8' });
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    expect(await page.textContent('main')).toContain('Reports are for HSM administrators and auditors');
    await page.context().close();
  });

  it('a report that does not exist is a page too', async () => {
    const { page, status } = await openSignedIn('/api/reconcile/reports/no-such-run', 'Alice Auditor');
    expect(status).toBe(404);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    await page.context().close();
  });

  it('API clients keep problem+json, and the sign-in redirect only ever returns to this site', async () => {
    const anonymous = await stack().api('/api/reports/access');
    expect({ status: anonymous.status, type: anonymous.headers.get('content-type') }).toEqual({ status: 401, type: 'application/problem+json' });
    const dave = await stack().api('/api/reports/access', { persona: 'dave' });
    expect({ status: dave.status, type: dave.headers.get('content-type') }).toEqual({ status: 403, type: 'application/problem+json' });
    const browserLike = await stack().api('/api/reports/keys?days=7', { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } });
    expect(browserLike.status).toBe(302);
    expect(browserLike.headers.get('location')).toBe(`/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent('/api/reports/keys?days=7')}`);
  });
});
