import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { PERSONAS } from '../../dev/personas';
import { checkPage, signInAs, usePhoneBrowser } from '../helpers/browser';
import { useStack } from '../helpers/stack';

/**
 * The portal's pages for administrators and auditors in a real headless Chromium on the local
 * stack: alice (auditor) sees the running grants of both planes, reads the audit trail filtered to
 * the release key and downloads it as CSV, and reads who can do what with each key as a matrix.
 * Every page passes axe-core without serious violations; screenshots go to test-artifacts/.
 */

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'portal-admin');
const KEY = 'release-signing-key';
const HSM_RESOURCE = `/subscriptions/${CONTOSO_SUBSCRIPTION_ID}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;
/** An approver's comment that a browser would read as markup, and with quotes and a comma for the CSV. */
const COMMENT = 'ok, "1.4.0" <b>now</b>';
const stack = useStack();
const browser = usePhoneBrowser('hsm-governor-portal-admin-');
let signing: string;
let contributor: string;
const base = (): string => stack().stack.endpoints.api;

async function asked(persona: string, body: Record<string, string>, comment = 'ok'): Promise<string> {
  const submitted = await stack().api('/api/requests', { persona, body });
  expect(submitted.status).toBe(201);
  const id = ((await submitted.json()) as { id: string }).id;
  const approved = await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve', comment } });
  expect(approved.status).toBe(200);
  expect(((await approved.json()) as { status: string }).status).toBe('Active');
  return id;
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  signing = await asked('dave', { role: 'Crypto User', scope: `/keys/${KEY}`, principalId: PERSONAS['app-vm'].oid, duration: 'PT1H', justification: 'Release 1.4.0' }, COMMENT);
  contributor = await asked('dave', { role: 'Managed HSM Contributor', scope: HSM_RESOURCE, duration: 'PT1H', ticket: 'CHG-42', justification: 'network rules' });
  expect((await stack().api('/api/reconcile?mode=plan', { persona: 'sam', method: 'POST' })).status).toBe(200);
}, 120_000);

async function current(page: Page): Promise<string | null> {
  return page.getByRole('navigation', { name: 'Portal' }).locator('[aria-current="page"]').textContent();
}

describe('the pages for administrators and auditors', () => {
  it('shows alice every running grant, on the HSM and on Azure RBAC', async () => {
    const page = await browser().newPage();
    await signInAs(page, base(), 'Alice Auditor', '/grants');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Running grants');
    await expect(current(page)).resolves.toBe('Running grants');
    const hsm = page.locator('tr', { has: page.locator(`a[href="/requests/${signing}"]`) });
    await expect(hsm.locator('[data-label="Scope"]').textContent()).resolves.toBe(`/keys/${KEY}`);
    await expect(hsm.locator('[data-label="For"]').textContent()).resolves.toBe('app-vm (managed identity)');
    await expect(hsm.locator('[data-label="Asked by"]').textContent()).resolves.toBe('Dave DevOps');
    await expect(hsm.locator('[data-expires]').textContent()).resolves.toMatch(/left$/);
    await expect(hsm.locator('[data-label="Ends"] time').getAttribute('title')).resolves.toMatch(/GMT$/);
    const arm = page.locator('tr', { has: page.locator(`a[href="/requests/${contributor}"]`) });
    await expect(arm.locator('[data-label="Role"]').textContent()).resolves.toBe('Managed HSM Contributor');
    await checkPage(page, ARTIFACTS, 'grants');
    await page.close();
  }, 60_000);

  it('filters the audit trail to the release key, pages it, and downloads it as CSV', async () => {
    const page = await browser().newPage();
    await signInAs(page, base(), 'Alice Auditor', '/audit');
    await checkPage(page, ARTIFACTS, 'audit-opened');
    await page.getByLabel('Key').selectOption(KEY);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/key=release-signing-key/);
    // The script sent the browser's time zone with the form.
    expect(new URL(page.url()).searchParams.get('tz')).toBe(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone));
    const scopes = await page.locator('tbody [data-label="Key or scope"]').allTextContents();
    expect(scopes.length).toBeGreaterThanOrEqual(2);
    expect(new Set(scopes)).toEqual(new Set([`/keys/${KEY}`]));
    const actions = await page.locator('tbody [data-label="What"]').allTextContents();
    expect(actions).toEqual(expect.arrayContaining(['request.created', 'request.active']));
    // The comment is shown as text, not markup.
    await expect(page.getByText(`approved (1/1): ${COMMENT}`).isVisible()).resolves.toBe(true);
    await expect(page.locator('main b').count()).resolves.toBe(0);
    await checkPage(page, ARTIFACTS, 'audit-filtered');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download these records as CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^audit-trail-release-signing-key-\d{4}-\d{2}-\d{2}_\.csv$/);
    const csv = readFileSync((await download.path()) as string, 'utf8');
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('seq,at,actor,action,requestId,from,to,reason,role,scope,principalId,hsm,hsmRequestId,details,hash');
    expect(lines.at(-1)).toBe('');
    const rows = lines.slice(1, -1);
    expect(rows).toHaveLength(scopes.length);
    const created = rows.find((line) => line.includes(`,request.created,${signing},`));
    expect(created).toContain(`,${PERSONAS.dave.oid},request.created,${signing},,Pending,requested,Managed HSM Crypto User,/keys/${KEY},${PERSONAS['app-vm'].oid},contoso-hsm,`);
    // A cell with quotes and a comma is quoted, its quotes doubled (a formula's defusing is in test/unit/domain/csv.test.ts).
    const approved = rows.find((line) => line.includes(`,request.approved,${signing},`));
    expect(approved).toContain(`,Pending,Approved,"approved (1/1): ok, ""1.4.0"" <b>now</b>",`);
    expect(rows.every((line) => line.includes(`,/keys/${KEY},`))).toBe(true);
    await page.close();

    // Without JavaScript the server renders the same records, and reads the times as UTC.
    const plain = await (await stack().api(`/audit?key=${KEY}&from=&to=`, { persona: 'alice' })).text();
    expect(plain).toContain('<input type="hidden" name="tz" value="UTC">');
    expect(plain.match(/<td data-label="Key or scope"><code>\/keys\/release-signing-key<\/code><\/td>/g)).toHaveLength(scopes.length);

    // The API pages the same filter: one record a page, the next after the continuation.
    const first = (await (await stack().api(`/api/audit?key=${KEY}&limit=1`, { persona: 'alice' })).json()) as { items: Array<{ seq: number }>; continuation?: string };
    expect(first.items).toHaveLength(1);
    expect(first.continuation).toMatch(/^\d+$/);
    const second = (await (await stack().api(`/api/audit?key=${KEY}&limit=1&continuation=${first.continuation}`, { persona: 'alice' })).json()) as { items: Array<{ seq: number }> };
    expect(second.items[0]!.seq).toBeGreaterThan(first.items[0]!.seq);
    const byWho = (await (await stack().api(`/api/audit?who=app-vm&requestId=${signing}`, { persona: 'alice' })).json()) as { items: Array<{ requestId: string }> };
    expect(byWho.items.length).toBe(rows.filter((line) => line.includes(`,${signing},`)).length);
  }, 90_000);

  it('answers who can sign, decrypt, wrap, manage roles, back up or export with each key, as a matrix', async () => {
    const page = await browser().newPage();
    await signInAs(page, base(), 'Alice Auditor', '/api/reports/access');
    await expect(current(page)).resolves.toBe('Access report');
    await expect(page.getByText('Holders of Managed HSM Administrator can grant themselves any role').count()).resolves.toBe(1);
    const table = page.getByRole('table', { name: `Capabilities on ${KEY}` });
    const headers = await table.locator('thead th').allTextContents();
    expect(headers).toEqual(['Who', 'Sign', 'Decrypt', 'Wrap or unwrap', 'Manage roles', 'Back up', 'Export or release', 'Roles and data actions']);
    const appVm = table.locator('tr', { has: page.getByRole('rowheader', { name: /app-vm \(managed identity\)/ }) });
    await expect(appVm.locator('[data-label="Sign"]').textContent()).resolves.toMatch(/^just-in-time, until /);
    await expect(appVm.locator('[data-label="Manage roles"]').textContent()).resolves.toBe('—no');
    // The security team's standing Administrator assignment, expanded to its members.
    const sam = table.locator('tr', { has: page.getByRole('rowheader', { name: /Sam Security/ }) });
    await expect(sam.locator('[data-label="Manage roles"]').textContent()).resolves.toBe('standing via Contoso Security Team');
    await expect(sam.getByRole('rowheader').textContent()).resolves.toContain('can grant itself any role');
    await expect(sam.locator('[data-label="Sign"]').textContent()).resolves.toBe('—no');
    // The raw data actions, one click away.
    const actions = appVm.locator('details code', { hasText: 'Microsoft.KeyVault/managedHsm/keys/sign/action' });
    await expect(actions.isVisible()).resolves.toBe(false);
    await appVm.locator('summary').click();
    await expect(actions.isVisible()).resolves.toBe(true);
    await checkPage(page, ARTIFACTS, 'access-matrix');
    await table.screenshot({ path: join(ARTIFACTS, 'access-matrix-release-signing-key.png') });

    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Keys report' }).click();
    await page.getByRole('heading', { name: 'Key expiry and rotation' }).waitFor();
    await checkPage(page, ARTIFACTS, 'keys-report');
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Reconciliation' }).click();
    await page.getByRole('heading', { name: 'Drift report' }).waitFor();
    await expect(current(page)).resolves.toBe('Reconciliation');
    await checkPage(page, ARTIFACTS, 'reconciliation-report');
    await page.close();
  }, 90_000);

  it('tells someone who is neither administrator nor auditor that these pages are not for them', async () => {
    const page = await browser().newPage();
    await signInAs(page, base(), 'Dave DevOps', '/audit');
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    await expect(page.textContent('main')).resolves.toContain('The audit trail is for HSM administrators and auditors');
    await checkPage(page, ARTIFACTS, 'audit-refused');
    // His own pages leave the administrators' and auditors' links out of the navigation.
    await page.goto(`${base()}/`);
    await expect(page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Audit trail' }).count()).resolves.toBe(0);
    await expect(page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Approvals' }).count()).resolves.toBe(1);
    const csv = await browser().request.get(`${base()}/audit.csv`);
    expect(csv.status()).toBe(403);
    expect(await csv.text()).not.toContain('request.created');
    await page.close();
  }, 60_000);
});
